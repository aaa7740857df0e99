"""A micro-cache in front of Django for the polled stats endpoint (config/asgi.py wraps it).

Dashboards poll `GET /api/{vms|hosts|pools}/{id}/stats/` every few seconds, and the answer only
changes when the entity's host stores samples (a tick every SAMPLE_INTERVAL / SIM_SPEED wall
seconds). Django spends 10-25 ms of CPU on each such request (session, user, permission, entity,
the samples, JSON), so a hundred pollers kept one core busy at 30-80 answers a second. Here a
repeated request is answered from memory, on the event loop, without Django:

- Only what Django itself answered 200 (without setting a cookie) is kept, with its headers, so a
  replay is byte for byte what Django sent: CSP, nosniff, Vary and all.
- The key is the client's credentials (an HMAC, under SECRET_KEY, of the session cookie and the
  Authorization header: never the secret itself), the object, the query string and Accept. An
  answer is replayed only to the same credentials that Django checked; another user, or the same
  user in another session, goes through Django once. Requests without credentials always do.
- An answer is kept while two versions in Redis stay as they were when its request started: the
  host's samples version (hostsim.sample_versions: a tick, a fast-forward chunk, rollups, an
  inventory change) and the auth epoch (bumped by a logout, a change of any user, group or
  permission). One MGET per request checks both, so a poller sees a new sample on its first
  request after the tick's commit, and a user whose permission was taken away is refused at once.
  MAX_AGE_SECONDS bounds an answer in case a bump was lost (Redis restarted, say); a session that
  expires by age is also refused again within that bound.
- Identical requests of one client that miss at the same time make one Django request; the others
  wait for it and replay its answer.
- The stats view tells, in a header taken off here, which versions its answer was read under
  (`answer_versions`, read before its query) and so which host the object belongs to. If Redis
  does not answer, nothing is kept and every request goes through Django.
"""

import asyncio
import hashlib
import hmac
import logging
import re
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio
from django.conf import settings
from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http.cookie import parse_cookie
from redis.exceptions import RedisError

from hostsim import sample_versions
from hostsim.redis_client import get_redis

log = logging.getLogger(__name__)

STATS_PATH = re.compile(r"/api/(vms|hosts|pools)/([0-9]{1,19})/stats/")
KIND_OF = {"vms": "vm", "hosts": "host", "pools": "pool"}
AUTH_EPOCH_KEY = "vmemlab:stats-cache:auth-epoch"
MAX_ENTRIES = 4096  # answers kept per web process (a few KB each; a year of rollups 30 KB)
MAX_BODY = 256 * 1024  # bytes; a larger answer is not kept
MAX_AGE_SECONDS = 10.0  # an answer is never replayed later than this, versions or not
REDIS_TIMEOUT = 1.0  # seconds; a slower Redis sends the request through Django
# Stats requests this layer works on at once, per event loop; the rest wait their turn. The same
# loop delivers the live feeds: with a hundred replays ready in every turn of the loop, each turn
# took 30-100 ms and a tick's samples reached the tabs late. A few at a time keep the turns short;
# the replays are fast, so the answers per second hardly change.
CONCURRENT_REQUESTS = 8

_host_of: dict[tuple[str, int], int] = {}  # (kind, id) -> host id, learnt from Django's answers


@dataclass(frozen=True)
class _Answer:
    versions: tuple
    headers: list
    body: bytes
    stored: float  # time.monotonic()


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = (
    weakref.WeakKeyDictionary()
)


_turns: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = (
    weakref.WeakKeyDictionary()
)


def _turn() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = asyncio.Semaphore(CONCURRENT_REQUESTS)
    return turn


def _redis() -> redis.asyncio.Redis:
    """An asyncio Redis client of the running event loop (its connections belong to the loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
    return client


async def _versions(host_id: int) -> tuple | None:
    try:
        return tuple(await _redis().mget(_keys(host_id)))
    except (RedisError, OSError) as exc:
        log.warning("stats cache bypassed: Redis did not answer: %s", exc)
        return None


def _credentials(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """An HMAC of the session cookie and the Authorization header; None without either."""
    session = authorization = b""
    for name, value in headers:
        if name == b"cookie":
            found = parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME, "")
            session = found.encode("latin-1", "replace")
        elif name == b"authorization":
            authorization = value
    if not session and not authorization:
        return None
    message = session + b"\0" + authorization
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def _accept(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b",".join(value for name, value in headers if name == b"accept")


class StatsMicroCache:
    def __init__(self, app):
        self.app = app
        self.answers: OrderedDict[tuple, _Answer] = OrderedDict()
        self.in_flight: dict[tuple, asyncio.Future] = {}

    async def __call__(self, scope, receive, send):
        key = self._key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        if await self._replayed(key, send):
            return None
        if key in self.in_flight:  # the same request of the same client is with Django
            await asyncio.shield(self.in_flight[key])
            if await self._replayed(key, send):
                return None
        done = asyncio.get_running_loop().create_future()
        self.in_flight[key] = done
        try:
            captured = await self._through_django(scope, receive, send)
            if captured is not None:
                self._keep(key, _Answer(*captured, stored=time.monotonic()))
        finally:
            if self.in_flight.get(key) is done:
                del self.in_flight[key]
            done.set_result(None)
        return None

    @staticmethod
    def _key(scope) -> tuple | None:
        """(credentials, kind, id, query string, Accept) of a stats GET with credentials."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        match = STATS_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        headers = scope["headers"]
        credentials = _credentials(headers)
        if credentials is None:
            return None
        kind, entity_id = KIND_OF[match.group(1)], int(match.group(2))
        return (credentials, kind, entity_id, scope["query_string"], _accept(headers))

    async def _replayed(self, key: tuple, send) -> bool:
        """Send the kept answer if its versions are still current; False if there is none."""
        host_id = _host_of.get(key[1:3])
        if host_id is None or key not in self.answers:
            return False
        async with _turn():
            versions = await _versions(host_id)
            answer = None if versions is None else self._fresh(key, versions)
            if answer is None:
                return False
            self.answers.move_to_end(key)
            await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
            await send({"type": "http.response.body", "body": answer.body})
            return True

    def _fresh(self, key: tuple, versions: tuple) -> _Answer | None:
        answer = self.answers.get(key)
        if answer is None or answer.versions != versions:
            return None
        if time.monotonic() - answer.stored > MAX_AGE_SECONDS:
            return None
        return answer

    def _keep(self, key: tuple, answer: _Answer) -> None:
        self.answers[key] = answer
        self.answers.move_to_end(key)
        while len(self.answers) > MAX_ENTRIES:
            self.answers.popitem(last=False)

    async def _through_django(self, scope, receive, send) -> tuple | None:
        """Let Django answer; returns (versions, headers, body) if the answer may be kept.

        The stats view says which versions its answer was read under (VERSIONS_HEADER, read
        before its query, so a tick landing meanwhile makes the answer stale at once); the
        header is taken off before the answer leaves.
        """
        start: dict = {}
        chunks: list[bytes] = []
        versions = None

        async def capture(message):
            nonlocal versions
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == VERSIONS_HEADER:
                        versions = _decode_versions(value)
                    else:
                        headers.append((name, value))
                message = {**message, "headers": headers}
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        headers = start.get("headers", [])
        if versions is None or start.get("status") != 200 or start.get("trailers"):
            return None
        if any(name.lower() == b"set-cookie" for name, _ in headers):
            return None
        body = b"".join(chunks)
        return (versions, headers, body) if len(body) <= MAX_BODY else None


# --- versions -----------------------------------------------------------------------------------

VERSIONS_HEADER = b"x-vmemlab-stats-versions"  # view -> this layer only; never sent out


def _keys(host_id: int) -> list[str]:
    return [sample_versions.key(host_id), AUTH_EPOCH_KEY]


def _encode_versions(versions: tuple) -> str:
    return " ".join("-" if value is None else value.decode() for value in versions)


def _decode_versions(value: bytes) -> tuple:
    return tuple(None if part == b"-" else part for part in value.split(b" "))


def answer_versions(kind: str, entity_id: int, host_id: int) -> dict[str, str]:
    """The header the stats view adds to its answer, read before it reads the samples: the
    versions the answer stands for (none if Redis does not answer: then it is not kept).
    Remembers the object's host, whose version the next requests check."""
    _host_of[(kind, int(entity_id))] = int(host_id)
    try:
        versions = tuple(get_redis().mget(_keys(host_id)))
    except RedisError:
        return {}
    return {VERSIONS_HEADER.decode(): _encode_versions(versions)}


# --- the auth epoch ---------------------------------------------------------------------------


def bump_auth_epoch(**kwargs) -> None:
    """Who may see what changed (or someone logged out): no cached answer is replayed any more."""
    try:
        get_redis().incr(AUTH_EPOCH_KEY)
    except RedisError as exc:
        log.warning("stats cache: auth epoch not bumped (answers expire by age): %s", exc)


def connect_receivers() -> None:
    """Bump the auth epoch on a logout and on every change of users, groups and permissions."""
    user = get_user_model()
    user_logged_out.connect(bump_auth_epoch, dispatch_uid="stats_cache.logout")
    for model in (user, Group):
        post_save.connect(bump_auth_epoch, sender=model, dispatch_uid=f"stats_cache.save.{model}")
        post_delete.connect(
            bump_auth_epoch, sender=model, dispatch_uid=f"stats_cache.delete.{model}"
        )
    for through in (user.groups.through, user.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(
            bump_auth_epoch, sender=through, dispatch_uid=f"stats_cache.m2m.{through}"
        )
