"""/healthz and the compose health checks judge the worker and beat by their own heartbeats.

Against the real lab: uvicorn, a solo-pool Celery worker and beat on real Redis. A worker busy
with a fast-forward cannot answer a control ping, so a ping-based check flapped; the heartbeat
thread keeps beating, so /healthz stays 200 however busy the worker is.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from dashboard.health import BEAT_FRESH_SECONDS, WORKER_FRESH_SECONDS
from hostsim.models import AdvanceJob
from hostsim.routing import HEARTBEAT_INTERVAL
from pools import services
from tests.labprocs import child_env, wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _busy_host():
    """A host whose fast-forward chunks each take the worker's whole chunk budget (about 1 s)."""
    host = services.create_host(name="esxi-busy", memory_mb=16384, cpu_mhz=20000, seed=3)
    for index in range(4):
        services.power_on(
            services.create_vm(host, name=f"busy-{index}", memory_mb=2048, workload="database")
        )
    return host


def test_healthz_stays_healthy_while_the_worker_runs_a_long_fast_forward(live_lab):
    from hostsim import fastforward

    host = _busy_host()
    wait_until(lambda: _healthz(live_lab.url)[0] == 200, 60, "the lab never became healthy")
    job = fastforward.request_advance(host.pk, 24 * 3600)  # a simulated day: minutes of chunks
    polls = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state not in AdvanceJob.ACTIVE:
            break
        status, body = _healthz(live_lab.url)
        polls.append((job.state, job.ticks_done, status, body))
        time.sleep(0.3)
    running = [poll for poll in polls if poll[0] == AdvanceJob.State.RUNNING]
    assert running, "the fast-forward never ran"
    refused = [(state, body) for state, _, status, body in polls if status != 200]
    assert not refused, f"/healthz refused while the worker was busy: {refused[:3]}"
    assert len(running) >= 20, f"the worker was not kept busy long enough: {polls[-1:]}"
    assert running[-1][1] > running[0][1], "the fast-forward made no progress while polled"
    ages = [w["heartbeatAgeSeconds"] for *_, body in running for w in body["worker"]["workers"]]
    assert max(ages) < WORKER_FRESH_SECONDS


def test_healthz_is_unhealthy_once_no_worker_heartbeat_is_fresh_while_beat_stays_healthy(live_lab):
    wait_until(lambda: _healthz(live_lab.url)[0] == 200, 60, "the lab never became healthy")
    live_lab.worker.kill(9)  # no clean shutdown: its heartbeat key stays until its TTL, growing old
    started = time.monotonic()
    status, body = wait_until(
        lambda: (answer := _healthz(live_lab.url))[0] == 503 and answer,
        WORKER_FRESH_SECONDS + 20,
        "/healthz stayed healthy without a worker",
    )
    # Not at once: the last heartbeat (at most one interval before the kill) has to age first.
    assert time.monotonic() - started >= WORKER_FRESH_SECONDS - HEARTBEAT_INTERVAL - 1
    assert body["worker"]["ok"] is False
    assert body["worker"]["workers"], "the dead worker's stale heartbeat should still be listed"
    assert all(not worker["fresh"] for worker in body["worker"]["workers"])
    assert all(w["heartbeatAgeSeconds"] >= WORKER_FRESH_SECONDS for w in body["worker"]["workers"])
    # Beat is judged by beat: with no worker running its dispatches, it is still healthy.
    assert body["beat"]["ok"] is True, body["beat"]
    assert body["beat"]["heartbeatAgeSeconds"] < BEAT_FRESH_SECONDS


def test_healthz_reports_beat_down_while_the_worker_is_well(live_lab):
    wait_until(lambda: _healthz(live_lab.url)[0] == 200, 60, "the lab never became healthy")
    live_lab.beat.stop()
    status, body = wait_until(
        lambda: (answer := _healthz(live_lab.url))[0] == 503 and answer,
        BEAT_FRESH_SECONDS + 20,
        "/healthz stayed healthy without beat",
    )
    assert body["beat"]["ok"] is False
    assert body["worker"]["ok"] is True


def _compose_check(service: str) -> list[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    test = compose["services"][service]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    return [sys.executable, *test[2:]]


def _passes(argv: list[str]) -> bool:
    return subprocess.run(argv, env=child_env(), capture_output=True, timeout=30).returncode == 0


def test_the_compose_health_checks_read_the_heartbeats_of_worker_and_beat(celery_workers):
    worker_check, beat_check = _compose_check("worker"), _compose_check("beat")
    assert not _passes(worker_check) and not _passes(beat_check), "healthy with nothing running"
    # compose names its worker worker@%h, and a container's hostname is what %h expands to
    worker, nodename = celery_workers.start("worker")
    assert nodename == f"worker@{socket.gethostname()}"
    assert _passes(worker_check)
    beat = celery_workers.start_beat()
    wait_until(lambda: _passes(beat_check), 60, "beat's compose health check never passed")
    worker.stop()  # a clean stop forgets the heartbeat
    assert not _passes(worker_check)
    assert _passes(beat_check), "beat must not look unhealthy because the worker is down"
    beat.stop()  # beat clears its heartbeat when it stops
    assert not _passes(beat_check)
