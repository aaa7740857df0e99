"""A websocket test client for ASGI applications, on asgiref's ApplicationCommunicator, and the
request headers of a browser tab.

channels.testing would do, but importing it pulls in daphne (its live-server helper), which the
project does not install; this is the part of its WebsocketCommunicator the tests use.
"""

import json

from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def headers_for(user=None) -> list[tuple[bytes, bytes]]:
    """Request headers of a browser tab: our origin, and the user's session cookie if any."""
    if user is None:
        return [ORIGIN]
    return [ORIGIN, (b"cookie", session_cookie(user))]


class LiveSocket(ApplicationCommunicator):
    def __init__(self, application, path: str, headers: list[tuple[bytes, bytes]]):
        super().__init__(
            application,
            {
                "type": "websocket",
                "path": path,
                "query_string": b"",
                "headers": headers,
                "subprotocols": [],
            },
        )

    async def connect(self, timeout: float = 5) -> tuple[bool, int | None]:
        """(True, None) when accepted, (False, close code) when refused at the handshake."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, None

    async def send_text(self, text: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.send_input({"type": "websocket.receive", "bytes": data})

    async def send_json(self, content) -> None:
        await self.send_text(json.dumps(content))

    async def receive_json(self, timeout: float = 5):
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send" and "text" in response, response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        """Tell the consumer the socket closed; cancel it if it has not finished by `timeout`.

        A consumer whose channel is waiting in the Redis layer can take up to the layer's poll
        time to notice; cancelling it then is what a server does with a lingering application.
        """
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


async def refusal_code(socket: LiveSocket) -> int:
    """Connect and return the close code the server answers with."""
    connected, _ = await socket.connect()
    assert connected, "refusals accept first, so that the close code reaches the browser"
    message = await socket.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    await socket.disconnect(message["code"])  # the server's side of the closing handshake
    return message["code"]


class BrokenChannelLayer:
    """A channel layer whose Redis is gone: every send fails."""

    async def group_send(self, group, message):
        raise ConnectionError("redis is gone")


def break_channel_layer(monkeypatch) -> None:
    monkeypatch.setattr("dashboard.broadcast.get_channel_layer", lambda: BrokenChannelLayer())
