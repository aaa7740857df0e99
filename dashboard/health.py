"""/healthz: is every part of the lab alive? Used by the compose health checks and `./lab up`."""

import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from hostsim.redis_client import get_redis
from hostsim.tasks import BEAT_KEY

BEAT_STALE_AFTER = 5  # beat is unhealthy after missing this many tick dispatches
WORKER_PING_TIMEOUT = 1.0  # seconds to wait for a worker's pong


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


def _worker() -> dict:
    try:
        replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT) or []
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


def _beat() -> dict:
    try:
        last = get_redis().get(BEAT_KEY)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if last is None:
        return {"ok": False, "lastRunAgeSeconds": None}
    age = time.time() - float(last)
    limit = BEAT_STALE_AFTER * settings.SAMPLE_INTERVAL / settings.SIM_SPEED
    return {"ok": age <= limit, "lastRunAgeSeconds": round(age, 1)}


@login_not_required
@require_GET
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    if checks["redis"]["ok"]:
        checks["worker"] = _worker()
        checks["beat"] = _beat()
    else:
        checks["worker"] = checks["beat"] = {"ok": False, "error": "redis unreachable"}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", **checks}, status=200 if healthy else 503)
