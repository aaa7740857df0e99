"""Admission at the database: HTTP requests share a bounded number of the pool's connections, and
one that cannot have a connection in time is answered 503, not 500.

With PostgreSQL every process draws its connections from a bounded pool (config/settings.py,
DATABASES). Without this middleware a request would take its connection wherever it first touches
the database, often inside another middleware (the session, the user), and when every connection
stayed busy for the pool's timeout psycopg_pool's PoolTimeout (an OperationalError) would surface
there as a 500. Here the request takes its connection first, so that wait can only fail here.

HTTP requests may hold at most the pool's size less LIVE_FEED_RESERVE connections at once. The
websocket consumers (the session and permission checks of a connect, dashboard.access) run their
queries on Channels' one database thread, outside this middleware: queued in the pool behind a
hundred pollers, each connect waited their whole queue twice, one connect after the other, and
200 browser tabs took minutes to open. With the reserve they never queue behind HTTP at all.

The request gives its connection back as soon as its response is ready, not when the server has
sent it, so its slot and its connection are freed together. Middleware above this one that
writes after the view (a session saved at login) opens a connection again, outside the slots.

It is last in MIDDLEWARE and synchronous on purpose: under ASGI Django calls a synchronous
middleware's hooks through sync_to_async, a round trip through the event loop each; with a
sync-only middleware innermost, Django runs the whole stack above it on the request's thread in
one go (BaseHandler.load_middleware adapts each middleware to the mode of the one below it).
"""

import logging
import threading

from django.conf import settings
from django.db import OperationalError, connection
from django.http import JsonResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2  # about a tick of the live feed; slots free up in milliseconds
LIVE_FEED_RESERVE = 2  # connections per process HTTP requests leave to the websocket consumers
BUSY = "The lab is too busy to answer right now; try again in a moment."


def _pool_options() -> dict | None:
    options = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    return options if isinstance(options, dict) else None


class DatabaseAdmissionMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        pool = _pool_options()
        if pool is None:  # SQLite: one file, no pool to share out
            self.slots = None
            self.timeout = None
        else:
            self.slots = threading.BoundedSemaphore(max(1, pool["max_size"] - LIVE_FEED_RESERVE))
            self.timeout = pool["timeout"]

    def __call__(self, request):
        if self.slots is not None and not self.slots.acquire(timeout=self.timeout):
            return self._busy(request, "every HTTP slot stayed taken")
        try:
            try:
                connection.ensure_connection()
            except OperationalError as exc:
                return self._busy(request, exc)
            response = self.get_response(request)
            if self.slots is not None and not connection.in_atomic_block:
                # Back to the pool with the slot (not in a test's transaction, which it would end).
                connection.close()
            return response
        finally:
            if self.slots is not None:
                self.slots.release()

    @staticmethod
    def _busy(request, reason) -> JsonResponse:
        log.warning("no database connection for %s %s: %s", request.method, request.path, reason)
        return JsonResponse(
            {"error": BUSY}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
