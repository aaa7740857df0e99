"""The host actor run by real Celery workers on real Redis, sharing the test database."""

import time
from datetime import timedelta

import pytest

from hostsim import fastforward, guest_operations, routing, runtime, tasks
from hostsim.models import (
    REALTIME_INTERVAL,
    AdvanceJob,
    Checkpoint,
    EntityKind,
    GuestOperation,
    Sample,
)
from pools import services
from pools.admission import Allocation
from tests.labprocs import wait_until
from tests.stored_samples import realtime_times as _timestamps

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _host_with_vms(on: int = 2, off: int = 1):
    host = services.create_host(name="esxi-test", memory_mb=4096, cpu_mhz=8000, seed=7)
    vms = []
    for index in range(on + off):
        vm = services.create_vm(
            host, name=f"vm-{index}", memory_mb=512, vcpus=1, workload="webserver"
        )
        if index < on:
            vm = services.power_on(vm)
        vms.append(vm)
    return host, vms


def test_samples_appear_for_every_powered_on_vm_at_the_real_time_cadence(celery_workers):
    host, vms = _host_with_vms(on=2, off=1)
    celery_workers.start("w1")
    celery_workers.start_beat()
    wait_until(
        lambda: len(_timestamps(EntityKind.HOST, host.pk)) >= 4, 60, "no host samples arrived"
    )
    host_ts = _timestamps(EntityKind.HOST, host.pk)
    assert all(
        b - a == timedelta(seconds=REALTIME_INTERVAL)
        for a, b in zip(host_ts, host_ts[1:], strict=False)
    )
    for vm in vms[:2]:
        assert set(_timestamps(EntityKind.VM, vm.pk)) >= set(host_ts[1:])
    assert _timestamps(EntityKind.VM, vms[2].pk) == []  # powered off: no data, as in vSphere
    root = services.ensure_root_pool(host)
    assert _timestamps(EntityKind.POOL, root.pk)


def test_guest_operations_reach_the_engine_through_the_worker(celery_workers):
    host, vms = _host_with_vms(on=1, off=0)
    vm = vms[0]
    services.reconfigure_vm(vm, workload="toucher")
    celery_workers.start("w1")
    celery_workers.start_beat()
    wait_until(lambda: len(_timestamps(EntityKind.VM, vm.pk)) >= 2, 60, "no VM samples")
    operation = guest_operations.request_guest_operation(vm, "allocate", 256)
    wait_until(
        lambda: GuestOperation.objects.get(pk=operation.pk).applied_at,
        30,
        "operation never applied",
    )
    operation.refresh_from_db()
    assert operation.outcome == GuestOperation.Outcome.APPLIED
    wait_until(
        lambda: Sample.objects.filter(
            entity_kind=EntityKind.VM, entity_id=vm.pk, ts__gte=operation.applied_at
        ).exists(),
        30,
        "no sample after the operation",
    )
    latest = (
        Sample.objects.filter(
            entity_kind=EntityKind.VM, entity_id=vm.pk, ts__gte=operation.applied_at
        )
        .order_by("ts")
        .first()
    )
    assert latest.values["mem.granted"] >= 256 * 1024


def test_a_killed_worker_is_replaced_from_the_checkpoint_without_losing_or_repeating_samples(
    celery_workers,
):
    host, _ = _host_with_vms(on=2, off=0)
    worker, _ = celery_workers.start("w1", SIM_CHECKPOINT_TICKS="3")
    beat = celery_workers.start_beat()
    wait_until(
        lambda: (
            Checkpoint.objects.filter(host=host).exists()
            and len(_timestamps(EntityKind.HOST, host.pk)) >= 5
        ),
        60,
        "no checkpoint written",
    )
    worker.kill(9)  # no chance to clean up: its lease and heartbeat simply expire or get taken over
    before = _timestamps(EntityKind.HOST, host.pk)
    celery_workers.start(
        "w1", SIM_CHECKPOINT_TICKS="3"
    )  # a restarted worker, same name, empty memory
    wait_until(
        lambda: len(_timestamps(EntityKind.HOST, host.pk)) >= len(before) + 4,
        60,
        "the new worker did not resume",
    )
    after = _timestamps(EntityKind.HOST, host.pk)
    assert after[: len(before)] == before, "a stored sample was lost or rewritten"
    assert len(after) == len(set(after)), "a timestamp repeated"
    assert all(
        b - a == timedelta(seconds=REALTIME_INTERVAL)
        for a, b in zip(after, after[1:], strict=False)
    )
    beat.stop()


def test_ticks_that_overrun_are_skipped_not_queued(celery_workers, clean_redis):
    host, _ = _host_with_vms(on=1, off=0)
    _, nodename = celery_workers.start("w1")
    routing.assign_hosts([host.pk])
    assert routing.host_owner(host.pk) == nodename
    # Hold the host's lock as a long-running tick would, and fire many ticks meanwhile.
    with runtime.host_lock(host.pk):
        for _ in range(20):
            tasks.dispatch_ticks.apply()
        time.sleep(3)
        assert _timestamps(EntityKind.HOST, host.pk) == []
    queue = routing.worker_queue(nodename)
    assert clean_redis.llen(queue) == 0, "ticks piled up in the worker's queue"
    # Once free, the host ticks again, one interval at a time.
    tasks.dispatch_ticks.apply()
    wait_until(
        lambda: len(_timestamps(EntityKind.HOST, host.pk)) == 1, 30, "the host did not tick again"
    )
    time.sleep(1)
    assert len(_timestamps(EntityKind.HOST, host.pk)) == 1


def test_a_second_worker_takes_hosts_of_its_own(celery_workers):
    first_host, _ = _host_with_vms(on=1, off=0)
    second_host = services.create_host(name="esxi-test-2", memory_mb=4096, cpu_mhz=8000)
    services.power_on(services.create_vm(second_host, name="other", memory_mb=512, vcpus=1))
    _, w1 = celery_workers.start("w1")
    _, w2 = celery_workers.start("w2")
    celery_workers.start_beat()
    wait_until(
        lambda: (
            _timestamps(EntityKind.HOST, first_host.pk)
            and _timestamps(EntityKind.HOST, second_host.pk)
        ),
        60,
        "both hosts should tick",
    )
    assert {routing.host_owner(first_host.pk), routing.host_owner(second_host.pk)} == {w1, w2}


def test_fast_forward_runs_on_the_worker_that_holds_the_engine_so_the_guest_does_not_reboot(
    celery_workers,
):
    from hostsim.fastforward import request_advance, wait_briefly

    host, vms = _host_with_vms(on=1, off=0)
    vm = vms[0]
    services.reconfigure_vm(vm, workload="toucher")
    _, nodename = celery_workers.start(
        "w1", SIM_CHECKPOINT_TICKS="1000"
    )  # no checkpoint after the first
    celery_workers.start_beat()
    wait_until(lambda: len(_timestamps(EntityKind.VM, vm.pk)) >= 2, 60, "no VM samples")
    guest_operations.request_guest_operation(vm, "allocate", 200)
    wait_until(
        lambda: GuestOperation.objects.filter(applied_at__isnull=False).exists(), 30, "not applied"
    )
    wait_until(
        lambda: Sample.objects.filter(
            entity_kind=EntityKind.VM,
            entity_id=vm.pk,
            ts__gte=GuestOperation.objects.get().applied_at,
        ).exists(),
        30,
        "no sample",
    )
    granted_before = (
        Sample.objects.filter(entity_kind=EntityKind.VM, entity_id=vm.pk)
        .order_by("-ts")
        .first()
        .values["mem.granted"]
    )
    job = wait_briefly(request_advance(host.pk, 600), seconds=60)
    assert job.state == "done" and job.ticks_done == 30
    granted = [
        row.values["mem.granted"]
        for row in Sample.objects.filter(
            entity_kind=EntityKind.VM, entity_id=vm.pk, interval=REALTIME_INTERVAL
        ).order_by("ts")
    ]
    assert granted_before >= 200 * 1024
    assert (
        min(granted[granted.index(granted_before) :]) >= granted_before
    )  # never rebooted to nothing
    assert routing.host_owner(host.pk) == nodename


@pytest.mark.parametrize(("pool", "named"), [("prefork", "prefork"), ("threads", "thread")])
def test_a_worker_refuses_any_pool_but_solo_in_one_sentence(pool, named, redis_url):
    import subprocess
    import sys

    from tests.labprocs import ROOT, child_env

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={pool}",
            "-n",
            "refused@x",
        ],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "vmemlab: the worker must run --pool=solo (it holds live host engines in its own memory), "
        f"not {named}."
    ]


def test_raising_a_vms_shares_under_contention_raises_its_granted_on_the_worker(celery_workers):
    """Two 1.5 GB databases on a 2 GB host: the one given high shares gets the memory."""
    host = services.create_host(name="esxi-tight", memory_mb=2048, cpu_mhz=4000, seed=3)
    a, b = (
        services.power_on(
            services.create_vm(host, name=name, memory_mb=1536, vcpus=1, workload="database")
        )
        for name in ("db-a", "db-b")
    )
    celery_workers.start("w1")
    celery_workers.start_beat()

    def fast_forward(minutes):
        job = fastforward.request_advance(host.pk, minutes * 60)
        wait_until(
            lambda: AdvanceJob.objects.get(pk=job.pk).state == AdvanceJob.State.DONE,
            120,
            lambda: f"the fast-forward did not finish: {AdvanceJob.objects.get(pk=job.pk)}",
        )

    def latest(vm, counter):
        rows = Sample.objects.filter(
            entity_kind=EntityKind.VM, entity_id=vm.pk, interval=REALTIME_INTERVAL
        )
        return rows.order_by("-ts").values_list("values", flat=True).first()[counter]

    fast_forward(13)
    granted_before = latest(a, "mem.granted")
    for vm, level in ((a, "high"), (b, "low")):
        memory = services.allocation_of(vm, "memory")
        services.reconfigure_vm(
            vm,
            memory=Allocation(
                memory.reservation, memory.limit, expandable=False, shares_level=level
            ),
        )
    fast_forward(13)
    assert latest(a, "mem.entitlement") > latest(b, "mem.entitlement") + 400 * 1024
    assert latest(a, "mem.granted") > granted_before + 50 * 1024
