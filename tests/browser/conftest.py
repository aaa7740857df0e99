"""One running lab per test module, and a fresh scenario per test, for the Playwright tests.

`live_lab` in tests/conftest.py starts the lab for each test; starting uvicorn, a worker and beat
takes several seconds, so the browser tests share the processes of one lab per module. The data
is per test: each test is a transactional database test (so the lab's processes see what it
writes, and the database is emptied after it), and `scenario` writes its inventory through
pools.services. The worker simply simulates whichever hosts exist at each tick.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.labprocs import CeleryWorkers, child_env, forget_lab_state, start_web

MARKUP = "<img src=x onerror=alert(1)>"
PASSWORD = "lab-password-1"
ROLLED_UP_GRANTED_KB = 123_456  # a value no live sample has, so rolled-up points are recognisable


def run_in_a_thread(function, *args, **kwargs):
    """Call `function` (pools.services verbs, say) as another process would. The verbs' after-commit
    broadcast goes through async_to_sync, which refuses to run in a thread with a running event
    loop, and Playwright's sync API keeps one in the test's thread."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(call).result(timeout=60)


@pytest.fixture
def in_a_thread():
    return run_in_a_thread


@dataclass
class Scenario:
    url: str
    host_id: int
    vm_id: int  # powered on, idle Linux: the chart subject
    markup_vm_id: int
    tight_pool_id: int
    too_big_vm_id: int  # powered off in a fixed pool that cannot hold its reservation
    rolled_up_times: list


def _build_scenario():
    from hostsim.models import Sample
    from pools import services
    from pools.admission import Allocation

    User.objects.create_superuser("admin", password=PASSWORD)
    host = services.create_host(name="esx-browser", memory_mb=16384, cpu_mhz=20000)
    vm = services.power_on(
        services.create_vm(host, name="vm-live", memory_mb=1024, workload="webserver")
    )
    tight = services.create_pool(
        services.ensure_root_pool(host),
        "Tight",
        memory=Allocation(reservation=512, expandable=False),
    )
    too_big = services.create_vm(
        host,
        pool=tight,
        name="too-big",
        memory_mb=2048,
        memory=Allocation(reservation=1024, expandable=False),
    )
    markup = services.power_on(services.create_vm(host, name=MARKUP, memory_mb=512))
    # Rolled-up history for Last day: 5-minute rows during the day before the host existed.
    end = host.created.replace(second=0, microsecond=0) - timedelta(
        minutes=host.created.minute % 5 + 5
    )
    times = [end - timedelta(minutes=5 * i) for i in range(12)][::-1]
    Sample.objects.bulk_create(
        Sample(
            host=host,
            entity_kind="vm",
            entity_id=vm.pk,
            interval=300,
            ts=ts,
            values={
                "mem.granted.average": ROLLED_UP_GRANTED_KB,
                "mem.granted.minimum": 1,
                "mem.granted.maximum": 2,
            },
        )
        for ts in times
    )
    return host, vm, markup, tight, too_big, times


@dataclass
class Lab:
    url: str
    children: list


@pytest.fixture(scope="module")
def browser_lab(django_db_setup, redis_url, tmp_path_factory):
    """uvicorn, a Celery worker and beat on the test database, for every test of the module."""
    from hostsim.redis_client import get_redis

    forget_lab_state(get_redis())
    log_dir = tmp_path_factory.mktemp("browser-lab")
    workers = CeleryWorkers(log_dir, child_env())
    web, url = start_web(log_dir)
    try:
        workers.start("browser")
        workers.start_beat()
        yield Lab(url, [web, *workers.children])
    finally:
        web.stop()
        workers.stop_all()


def _delete_every_host() -> None:
    """Delete the test's hosts (and with them their VMs, pools, samples and jobs) through the
    services, each under its host's lock so that no tick of it is running meanwhile."""
    from hostsim.models import Host
    from hostsim.routing import host_lock
    from pools import services

    for host in Host.objects.all():
        with host_lock(host.pk, wait=30.0):
            for vm in host.vms.filter(power_state="poweredOn"):
                services.power_off(vm)
            services.delete_host(host)


@pytest.fixture
def scenario(transactional_db, browser_lab):
    """The test's inventory, deleted again at the end before the database is flushed.

    The lab's worker goes on ticking whatever hosts exist. A tick reads several tables at once, and
    pytest-django's flush truncating them meanwhile can deadlock on PostgreSQL; with the hosts gone
    first, the worker's only queries are one-table reads, which just wait for the flush.
    """
    host, vm, markup, tight, too_big, times = run_in_a_thread(_build_scenario)
    yield Scenario(browser_lab.url, host.pk, vm.pk, markup.pk, tight.pk, too_big.pk, times)
    run_in_a_thread(_delete_every_host)


@pytest.fixture
def page(browser, scenario):
    """A fresh browser context logged in as the admin; fails the test on any page error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors = []
    dialogs = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(scenario.url + "/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(scenario.url + "/")
    page.errors = errors
    page.dialogs = dialogs
    yield page
    context.close()
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert not errors, f"errors in the page: {errors}"
