"""Refuse an HTTP request body over DATA_UPLOAD_MAX_MEMORY_SIZE before Django reads it.

Django's ASGI handler reads the whole body (chunked ones included) into a temporary file before
any view or middleware runs, so a view's own size check comes after a multi-gigabyte upload has
filled the disk. This wrapper holds at most the limit in memory, answers 413 past it, and hands
the body it read to Django unchanged otherwise.
"""

import json

from django.conf import settings


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await _too_large(scope, send, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)


async def _too_large(scope, send, limit: int) -> None:
    if scope["path"].startswith("/sdk"):
        content_type, body = b"text/plain; charset=utf-8", b"Request body too large.\n"
    else:
        content_type = b"application/json"
        body = json.dumps({"error": f"The request body is larger than {limit} bytes."}).encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
