"""The live feeds: the Performance tab's `/ws/perf/{vm|host|pool}/{id}/` and the inventory
tree's `/ws/inventory/`.

Performance protocol (JSON text frames):
- server -> client `{"type": "sample", "ts": ISO, "interval": 20, "values": {counter: value},
  "sent": epoch seconds}` for every real-time sample stored for the entity, and
  `{"type": "advanced", "from": ISO, "to": ISO, "final": bool}` every few seconds while its host is
  fast-forwarded (`final` false) and when that ended (`final` true): reload the range from the
  stats endpoint;
- client -> server only `{"type": "ping"}`, answered `{"type": "pong"}`; anything else is
  answered `{"type": "error", "error": "..."}` and the socket stays open.

The user and their right to see the object are checked before the group is joined. A refusal
accepts and then closes with 4401 (not logged in), 4403 (no view permission) or 4404 (unknown
object), so the browser can tell "log in again" from "retry later".

Inventory protocol: logged-in users only (4401 otherwise). The server sends
`{"type": "inventory", "host": id}` after pools, VMs, power states or the host itself changed;
it carries no names, since the group is shared by users who may see different objects: the tab
refetches its tree (`dashboard:inventory-tree`), which is filtered by the user's permissions.
Client messages are validated as on the performance feed.
"""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.access import (
    INVENTORY_GROUP,
    Verdict,
    check_access,
    check_inventory_access,
    perf_group,
)

MAX_CLIENT_MESSAGE = 1024  # characters; a ping is 16


class ReadOnlyFeedConsumer(AsyncJsonWebsocketConsumer):
    """Joins one group once access is granted; answers pings and refuses every other message."""

    async def refuse(self, verdict: Verdict) -> None:
        await self.accept()
        await self.close(code=verdict.close_code)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)  # discarded again by websocket_disconnect
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("Send JSON text frames, not binary ones.")
            return
        if len(text_data) > MAX_CLIENT_MESSAGE:
            await self.send_error(f"Messages are at most {MAX_CLIENT_MESSAGE} characters.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("Not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping" and len(content) == 1:
            await self.send_json({"type": "pong"})
        else:
            await self.send_error('Only {"type": "ping"} is accepted; this feed is read-only.')

    async def send_error(self, text: str) -> None:
        await self.send_json({"type": "error", "error": text})


class PerfConsumer(ReadOnlyFeedConsumer):
    async def connect(self):
        route = self.scope["url_route"]["kwargs"]
        kind, raw_id = route.get("kind"), route.get("pk")
        access = await database_sync_to_async(check_access)(self.scope.get("user"), kind, raw_id)
        if not access.allowed:
            await self.refuse(access.verdict)
            return
        await self.join(perf_group(kind, access.obj.pk))

    async def perf_sample(self, event):
        await self.send_json(
            {
                "type": "sample",
                "ts": event["ts"],
                "interval": event["interval"],
                "values": event["values"],
                "sent": event["sent"],
            }
        )

    async def perf_advanced(self, event):
        await self.send_json(
            {"type": "advanced", "from": event["from"], "to": event["to"], "final": event["final"]}
        )


class InventoryConsumer(ReadOnlyFeedConsumer):
    async def connect(self):
        access = check_inventory_access(self.scope.get("user"))
        if not access.allowed:
            await self.refuse(access.verdict)
            return
        await self.join(INVENTORY_GROUP)

    async def inventory_changed(self, event):
        await self.send_json({"type": "inventory", "host": event["host"]})
