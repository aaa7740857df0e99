"""The websocket protocol of /ws/inventory/, through the real ASGI application (config.asgi:
origin check, session auth, routing) and the real Redis channel layer.

Changes are made through pools.services, which announce them with pools.signals.inventory_changed
after commit, as the web, the worker and the admin do.
"""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from dashboard_factories import make_host, make_vm
from live_socket import LiveSocket, break_channel_layer, headers_for, refusal_code

from config.asgi import application
from pools import services
from pools.models import ResourcePool
from pools.signals import inventory_changed

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PATH = "/ws/inventory/"


@pytest.fixture(autouse=True)
def _redis(clean_redis):
    """Every test here needs the real Redis (skipped without one)."""


@pytest.fixture
def stopped_vm(host):
    return make_vm(host, "web-stopped", on=False)


def communicator(headers: list[tuple[bytes, bytes]]) -> LiveSocket:
    return LiveSocket(application, PATH, headers)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_logged_in_user_hears_that_a_hosts_inventory_changed_when_a_vm_powers_on(
    host, stopped_vm, viewer
):
    headers = headers_for(viewer)

    async def scenario():
        socket = communicator(headers)
        assert (await socket.connect())[0]
        await sync_to_async(services.power_on)(stopped_vm)
        assert await socket.receive_json(timeout=5) == {"type": "inventory", "host": host.pk}
        assert await socket.receive_nothing(timeout=0.5), "one verb, one message"
        await socket.disconnect()

    run(scenario())


def test_the_message_names_the_host_that_changed_and_nothing_else(host, viewer):
    other = make_host("esx02")
    root = ResourcePool.objects.get(host=host, is_root=True)
    headers = headers_for(viewer)

    async def scenario():
        socket = communicator(headers)
        assert (await socket.connect())[0]
        await sync_to_async(make_vm)(other, "db01", on=False)
        assert await socket.receive_json(timeout=5) == {"type": "inventory", "host": other.pk}
        await sync_to_async(services.create_pool)(root, "Dev")
        assert await socket.receive_json(timeout=5) == {"type": "inventory", "host": host.pk}
        await socket.disconnect()

    run(scenario())


def test_a_user_without_view_permissions_may_follow_the_feed_since_it_carries_no_names(
    host, stopped_vm, stranger
):
    headers = headers_for(stranger)

    async def scenario():
        socket = communicator(headers)
        assert (await socket.connect())[0]
        await sync_to_async(services.power_on)(stopped_vm)
        message = await socket.receive_json(timeout=5)
        assert message == {"type": "inventory", "host": host.pk}
        assert stopped_vm.name not in json.dumps(message)
        await socket.disconnect()

    run(scenario())


def test_an_anonymous_visitor_is_refused_with_4401_and_hears_nothing(host, stopped_vm):
    assert run(refusal_code(communicator(headers_for()))) == 4401

    async def scenario():
        socket = communicator(headers_for())
        await socket.connect()
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
        await sync_to_async(services.power_on)(stopped_vm)
        assert await socket.receive_nothing(timeout=0.5)

    run(scenario())


def test_client_messages_other_than_ping_get_an_error_and_the_socket_stays_open(
    host, stopped_vm, viewer
):
    headers = headers_for(viewer)

    async def scenario():
        socket = communicator(headers)
        assert (await socket.connect())[0]
        for frame in [
            "not json",
            json.dumps({"type": "subscribe", "host": 2}),
            json.dumps([1, 2]),
            json.dumps({"type": "ping", "extra": 1}),
            "x" * 5000,
            "null",
        ]:
            await socket.send_text(frame)
            answer = await socket.receive_json(timeout=5)
            assert answer["type"] == "error" and answer["error"], frame
        await socket.send_bytes(b"\x00\x01")
        assert (await socket.receive_json(timeout=5))["type"] == "error"
        await socket.send_json({"type": "ping"})
        assert await socket.receive_json(timeout=5) == {"type": "pong"}
        # Still subscribed after all that.
        await sync_to_async(services.power_on)(stopped_vm)
        assert await socket.receive_json(timeout=5) == {"type": "inventory", "host": host.pk}
        await socket.disconnect()

    run(scenario())


def test_an_inventory_broadcast_failure_never_breaks_the_verb(host, stopped_vm, monkeypatch):
    """inventory_changed runs in the verb's on_commit: a dead channel layer must not raise."""

    break_channel_layer(monkeypatch)
    inventory_changed.send(sender=ResourcePool, host_id=host.pk)
    assert services.power_on(stopped_vm).powered_on
