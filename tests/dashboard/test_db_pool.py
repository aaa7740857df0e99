"""The bounded PostgreSQL connection pool (config/settings.py, DATABASES) and the 503 a request
gets when it cannot have a connection in time (dashboard.dbpool). PostgreSQL only."""

import threading
import time
import urllib.request

import pytest
from dashboard_factories import CHANGE_PERMS, VIEW_PERMS, add_samples, make_user, make_vm
from django.db import connection, transaction
from django.test import Client

from dashboard.dbpool import LIVE_FEED_RESERVE
from pools.models import ResourcePool
from tests.labprocs import start_web

pytestmark = [pytest.mark.postgres]

POOL_OF_THE_SERVER = 2  # connections the test's own web server may hold
BURST = 24  # concurrent requests against it: far more than its pool


def _connections_to_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_postgresql_connections_come_from_a_bounded_pool():
    options = connection.settings_dict["OPTIONS"]["pool"]
    assert 1 <= options["min_size"] <= options["max_size"] <= 90
    assert options["timeout"] > 0
    assert connection.settings_dict["CONN_MAX_AGE"] == 0  # Django refuses pools otherwise
    assert connection.pool is not None and connection.pool.max_size == options["max_size"]


@pytest.mark.django_db(transaction=True)
def test_a_request_that_finds_every_connection_busy_gets_503_json_then_200_once_one_is_free(vm):
    add_samples("vm", vm.pk, vm.host, 5)
    client = Client(SERVER_NAME="localhost", raise_request_exception=False)
    client.force_login(make_user("viewer", *VIEW_PERMS))
    pool = connection.pool
    connection.close()  # this thread's connection goes back to the pool like a request's would
    held = [pool.getconn() for _ in range(pool.max_size)]
    saved_timeout, pool.timeout = pool.timeout, 0.3
    try:
        busy_api = client.get(f"/api/vms/{vm.pk}/stats/")
        busy_page = client.get(f"/vms/{vm.pk}/")
    finally:
        pool.timeout = saved_timeout
        for held_connection in held:
            pool.putconn(held_connection)

    for busy in (busy_api, busy_page):
        assert busy.status_code == 503, busy.content[:300]
        assert busy["Content-Type"] == "application/json"
        assert busy["Retry-After"] == "2"
        assert set(busy.json()) == {"error"} and "busy" in busy.json()["error"]
    answered = client.get(f"/api/vms/{vm.pk}/stats/")
    assert answered.status_code == 200 and len(answered.json()["timestamps"]) == 5


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_http_requests_stuck_in_the_database_leave_the_reserved_connections_free(host):
    """Requests that hold their connection (here: power-ons waiting for the host's tree lock) take
    at most the pool less LIVE_FEED_RESERVE; one more waits for a slot, not for a connection, so
    the websocket consumers' queries (Channels' database thread) still get one at once."""
    pool = connection.pool
    slots = pool.max_size - LIVE_FEED_RESERVE
    assert slots >= 1
    vms = [make_vm(host, f"held-{index}", on=False, memory_mb=64) for index in range(slots + 1)]
    client = Client(SERVER_NAME="localhost")
    client.force_login(make_user("operator", *VIEW_PERMS, *CHANGE_PERMS))
    statuses: list[int] = []

    def power_on(vm):
        # One client for all threads: one handler, so one middleware instance, as in a server.
        try:
            statuses.append(client.post(f"/api/vms/{vm.pk}/power-on/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=power_on, args=(vm,)) for vm in vms]
    with transaction.atomic():  # the test's own connection: one of the pool's, holding the lock
        ResourcePool.objects.select_for_update().get(host=host, is_root=True)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while _waiting_on_a_lock() < slots and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # room for a request past the slots to take a connection, were it allowed
        assert _waiting_on_a_lock() == slots, "each slot holds one request, the last one waits"
        spare = pool.getconn(timeout=1)  # what a websocket connect asks for meanwhile
        pool.putconn(spare)
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * (slots + 1)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_concurrent_requests_is_served_on_the_pool_without_an_error(
    vm, tmp_path, monkeypatch
):
    """The ASGI server runs every request in flight on a thread of its own: BURST requests at once
    must all be answered 200 on POOL_OF_THE_SERVER connections, not open one each."""
    add_samples("vm", vm.pk, vm.host, 180)
    client = Client(SERVER_NAME="localhost")
    client.force_login(make_user("viewer", *VIEW_PERMS))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", str(POOL_OF_THE_SERVER))
    before = _connections_to_test_database()  # this test's own, and nothing else on its database
    web, url = start_web(tmp_path)
    try:
        statuses: list[int] = []
        most = [before]
        start = threading.Barrier(BURST)

        def fetch():
            request = urllib.request.Request(
                f"{url}/api/vms/{vm.pk}/stats/", headers={"Cookie": cookie}
            )
            start.wait()
            for _ in range(3):
                with urllib.request.urlopen(request, timeout=60) as response:
                    statuses.append(response.status)

        threads = [threading.Thread(target=fetch) for _ in range(BURST)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            most.append(_connections_to_test_database())
        for thread in threads:
            thread.join()
    finally:
        web.stop()

    assert statuses == [200] * (3 * BURST), web.output()[-2000:]
    assert max(most) - before <= POOL_OF_THE_SERVER
