"""The lab rides out a restart of its Redis (a Redis given by REDIS_URL, as in docker compose).

Against the real stack: uvicorn, a solo-pool Celery worker and beat on a redis-server of the
test's own, which the test kills (SIGKILL, nothing saved) and starts again on the same port.

An open Performance tab keeps its websocket: the socket is between the browser and uvicorn, and
Redis is behind uvicorn. The server does not close it, because every tab of every user would
then reconnect at once (and log in again over the database) for an outage that the web process
rides out by itself: its channel layer subscribes again when Redis is back. What was published
while Redis was away is lost (pub/sub keeps nothing); the page fills such a hole from the stats
endpoint (static/js/perf.js, `holeBefore`), so the socket only has to carry on, in order.
"""

import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from websockets.sync.client import connect

from hostsim.models import REALTIME_INTERVAL, Sample
from hostsim.redis_client import get_redis
from pools import services
from tests.dashboard.live_socket import session_cookie
from tests.labprocs import RedisServer, wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 3  # Redis is away this long: several ticks (0.5 s each) and a heartbeat (5 s)
RECOVERY_SECONDS = 30  # for the live feed and /healthz to be back once Redis is
TRACEBACK = "Traceback (most recent call last)"
LOST = "Redis connection lost"  # config.log_filters.RedisOutageInOneLine
BACK = "Redis connection back"


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    if server.binary is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server)")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(own_redis, settings):
    """The lab of this module (tests/conftest.py's live_lab) runs on the test's own Redis."""
    settings.REDIS_URL = own_redis.url
    get_redis.cache_clear()
    yield own_redis.url
    get_redis.cache_clear()


def _healthz(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _powered_on_vm():
    host = services.create_host(name="esxi-redis", memory_mb=8192, cpu_mhz=20000)
    return services.power_on(
        services.create_vm(host, name="web-redis", memory_mb=1024, workload="webserver")
    )


def _receive_samples(feed, newer_than: str, count: int, timeout: float) -> list[str]:
    """The timestamps of the samples the feed brings until `count` of them are newer than
    `newer_than` (ISO times, which sort as strings)."""
    deadline = time.monotonic() + timeout
    times: list[str] = []
    while sum(ts > newer_than for ts in times) < count:
        try:
            message = json.loads(feed.recv(timeout=max(0.0, deadline - time.monotonic())))
        except TimeoutError:
            raise AssertionError(
                f"not {count} samples newer than {newer_than!r} within {timeout} s: {times}"
            ) from None
        if message["type"] == "sample":
            times.append(message["ts"])
    return times


def _last_stored(vm) -> str:
    return (
        Sample.objects.filter(entity_kind="vm", entity_id=vm.pk, interval=REALTIME_INTERVAL)
        .latest("ts")
        .ts.isoformat()
    )


def _lines_with(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def test_a_redis_restart_keeps_the_live_feed_and_logs_one_line_each_way(
    own_redis, live_lab, admin_user
):
    vm = _powered_on_vm()
    wait_until(lambda: _healthz(live_lab.url) == 200, 60, "the lab never became healthy")
    feed = connect(
        live_lab.url.replace("http", "ws", 1) + f"/ws/perf/vm/{vm.pk}/",
        origin=live_lab.url,
        additional_headers={"Cookie": session_cookie(admin_user).decode()},
        open_timeout=10,
    )
    with feed:
        times = _receive_samples(feed, "", 2, timeout=30)
        own_redis.kill()
        killed = time.monotonic()
        wait_until(lambda: _healthz(live_lab.url) == 503, 10, "/healthz stayed 200 without Redis")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - killed)))  # the outage itself
        own_redis.start()
        stored_in_the_outage = _last_stored(vm)  # no tick runs without Redis (the host's lock)
        # (a) The same socket brings samples of ticks run after Redis came back.
        times += _receive_samples(feed, stored_in_the_outage, 3, timeout=RECOVERY_SECONDS)
        # (b) /healthz said 503 while Redis was away (above), and 200 again now.
        wait_until(
            lambda: _healthz(live_lab.url) == 200,
            RECOVERY_SECONDS,
            "/healthz did not report the lab healthy again",
        )

    # (a) In order, and none twice (the page fills a hole, it cannot undo a repeat).
    assert times == sorted(set(times)), f"samples out of order or repeated: {times}"
    # (c) The worker goes on ticking the host: its clock continues where it stopped, every
    # interval stored once, none skipped.
    stored = list(
        Sample.objects.filter(entity_kind="vm", entity_id=vm.pk, interval=REALTIME_INTERVAL)
        .order_by("ts")
        .values_list("ts", flat=True)
    )
    steps = {later - earlier for earlier, later in zip(stored, stored[1:], strict=False)}
    assert steps == {timedelta(seconds=REALTIME_INTERVAL)}, stored
    assert stored[-1].isoformat() >= times[-1]
    # (d) Each process says once that Redis was lost and once that it is back, and shows no
    # traceback of the outage.
    for child in (live_lab.web, live_lab.worker, live_lab.beat):
        log = child.output()
        assert TRACEBACK not in log, f"{child.name}:\n{log}"
        lost, back = _lines_with(log, LOST), _lines_with(log, BACK)
        assert len(lost) == 1 and len(back) == 1, f"{child.name}: {lost + back}\n{log}"
