"""config.body_limit: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before Django reads it,
chunked or not; a body within it reaches the application unchanged."""

import asyncio
import json

from config.body_limit import BodyLimit


def run(body_chunks, limit, settings, path="/api/pools/"):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = limit
    chunks = list(body_chunks)
    reached = []
    sent = []

    async def app(scope, receive, send):
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        reached.append(b"".join(parts))

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": []}
    asyncio.run(BodyLimit(app)(scope, receive, send))
    return reached, sent, chunks


def test_a_chunked_body_over_the_limit_is_refused_before_the_rest_is_read(settings):
    reached, sent, unread = run([b"x" * 600] * 10, 1000, settings)
    assert reached == []  # Django never saw it
    assert sent[0]["status"] == 413
    assert "larger than 1000 bytes" in json.loads(sent[1]["body"])["error"]
    assert len(unread) == 8  # stopped reading at the first chunk past the limit


def test_a_body_within_the_limit_reaches_the_application_whole(settings):
    reached, sent, _ = run([b"a" * 400, b"b" * 400], 1000, settings)
    assert reached == [b"a" * 400 + b"b" * 400]
    assert sent == []


def test_the_vsphere_api_gets_a_plain_refusal(settings):
    _, sent, _ = run([b"x" * 2000], 1000, settings, path="/sdk")
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/plain")
