"""/healthz: is every part of the lab alive? Used by the compose health checks and `./lab up`.

Workers and beat are judged by the heartbeats they write to Redis themselves (a thread of each
worker, beat's scheduler loop), never by asking them: a solo-pool worker answers a control ping
only between tasks, so a ping fails while it ticks or fast-forwards, although it is well.
"""

import logging
import time

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config.celery import BEAT_HEARTBEAT_INTERVAL, BEAT_HEARTBEAT_KEY
from hostsim.redis_client import get_redis
from hostsim.routing import HEARTBEAT_INTERVAL, worker_heartbeats

# A heartbeat is fresh for three of its intervals: one late beat (a long numpy step holding the
# GIL, a slow Redis round trip) is not an outage, three missed beats are. For workers that is
# 15 s, half of hostsim.routing.WORKER_HEARTBEAT_TTL, so /healthz reports a dead worker before
# the dispatcher gives its hosts to another one.
FRESH_HEARTBEAT_INTERVALS = 3
WORKER_FRESH_SECONDS = FRESH_HEARTBEAT_INTERVALS * HEARTBEAT_INTERVAL
BEAT_FRESH_SECONDS = FRESH_HEARTBEAT_INTERVALS * BEAT_HEARTBEAT_INTERVAL

log = logging.getLogger(__name__)
_failing: tuple[str, ...] = ()  # this process's last answer: the parts that were not ok


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any failure is what this endpoint reports, not raises
        return {"ok": False, "error": type(exc).__name__}


def _redis() -> dict:
    try:
        get_redis().ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _age(epoch_seconds: float, now: float) -> float:
    return round(max(0.0, now - epoch_seconds), 1)


def _workers() -> dict:
    """Healthy while at least one worker's heartbeat is fresh (it can be given hosts)."""
    try:
        beats = worker_heartbeats()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    now = time.time()
    workers = [
        {
            "name": name,
            "heartbeatAgeSeconds": _age(last, now),
            "fresh": now - last < WORKER_FRESH_SECONDS,
        }
        for name, last in sorted(beats.items())
    ]
    return {
        "ok": any(worker["fresh"] for worker in workers),
        "freshWithinSeconds": WORKER_FRESH_SECONDS,
        "workers": workers,
    }


def _beat() -> dict:
    try:
        last = get_redis().get(BEAT_HEARTBEAT_KEY)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if last is None:
        return {"ok": False, "heartbeatAgeSeconds": None, "freshWithinSeconds": BEAT_FRESH_SECONDS}
    now = time.time()
    return {
        "ok": now - float(last) < BEAT_FRESH_SECONDS,
        "heartbeatAgeSeconds": _age(float(last), now),
        "freshWithinSeconds": BEAT_FRESH_SECONDS,
    }


@login_not_required
@require_GET
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    if checks["redis"]["ok"]:
        checks["worker"] = _workers()
        checks["beat"] = _beat()
    else:
        checks["worker"] = checks["beat"] = {"ok": False, "error": "redis unreachable"}
    healthy = all(check["ok"] for check in checks.values())
    _log_change(checks)
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", **checks}, status=200 if healthy else 503
    )


def _log_change(checks: dict) -> None:
    """One line when the parts that fail change (django.request's line per 503 is filtered out:
    config.log_filters), not one per poll."""
    global _failing
    failing = tuple(name for name, check in checks.items() if not check["ok"])
    if failing == _failing:
        return
    if failing:
        log.warning(
            "the lab is unhealthy: %s",
            ", ".join(
                f"{name} ({checks[name].get('error', 'no fresh heartbeat')})" for name in failing
            ),
        )
    else:
        log.info("the lab is healthy again")
    _failing = failing
