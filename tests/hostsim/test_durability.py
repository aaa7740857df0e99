"""Crashes of real Celery workers on real Redis: the simulation continues, nothing stored is lost.

DESIGN.md 9: a killed worker loses at most one checkpoint interval of simulated state and no
stored sample. These tests kill workers with SIGKILL (no clean-up at all) and check what a user
would: the guest's memory carries on, samples keep coming, none repeats.
"""

import pytest

from hostsim import guest_operations, routing
from hostsim.models import REALTIME_INTERVAL, Checkpoint, EntityKind, GuestOperation, Sample
from pools import services
from tests.labprocs import wait_until
from tests.stored_samples import contiguous
from tests.stored_samples import host_times as _timestamps

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ALLOCATED_MB = 300
DRIFT = 0.02  # the guest's own kernel and page cache move its used memory a little every tick


def _vm_values(vm) -> list[dict]:
    rows = Sample.objects.filter(
        entity_kind=EntityKind.VM, entity_id=vm.pk, interval=REALTIME_INTERVAL
    ).order_by("ts")
    return [row.values for row in rows]


def _toucher_host():
    host = services.create_host(name="esxi-crash", memory_mb=4096, cpu_mhz=8000, seed=11)
    vm = services.create_vm(host, name="toucher", memory_mb=1024, vcpus=1, workload="toucher")
    return host, services.power_on(vm)


def _more_samples(host, count: int, message: str) -> None:
    have = len(_timestamps(host))
    wait_until(lambda: len(_timestamps(host)) >= have + count, 60, message)


def test_a_worker_killed_twice_in_a_row_resumes_its_guests_where_they_were(celery_workers):
    host, vm = _toucher_host()
    worker, _ = celery_workers.start("w1")  # default checkpoint interval: 15 ticks
    celery_workers.start_beat()
    _more_samples(host, 2, "no samples")
    operation = guest_operations.request_guest_operation(vm, "allocate", ALLOCATED_MB)
    wait_until(lambda: GuestOperation.objects.get(pk=operation.pk).applied_at, 30, "not applied")
    _more_samples(host, 2, "no sample after the allocation")
    used = _vm_values(vm)[-1]["lab.guest.used"]
    granted = _vm_values(vm)[-1]["mem.granted"]
    assert used >= ALLOCATED_MB * 1024

    for crash in (1, 2):  # the second crash comes a few ticks after the first restore
        worker.kill(9)
        seen = len(_vm_values(vm))
        worker, _ = celery_workers.start("w1")
        _more_samples(host, 3, f"the restarted worker did not resume after crash {crash}")
        resumed = _vm_values(vm)[seen:]
        assert all(abs(row["lab.guest.used"] - used) <= DRIFT * used for row in resumed), (
            f"after crash {crash} the guest's memory did not carry on"
        )
        # Rolled back to the checkpoint at most: a few ticks of growth, never the boot again.
        assert min(row["mem.granted"] for row in resumed) >= (1 - DRIFT) * granted

    assert contiguous(_timestamps(host)), "a timestamp repeated or went missing"


def test_a_restarted_worker_checkpoints_the_restored_engine_at_once(celery_workers):
    host, _ = _toucher_host()
    worker, _ = celery_workers.start("w1", SIM_CHECKPOINT_TICKS="1000")
    celery_workers.start_beat()
    wait_until(lambda: Checkpoint.objects.filter(host=host).exists(), 60, "no first checkpoint")
    _more_samples(host, 3, "no samples")
    first = Checkpoint.objects.get(host=host).clock
    worker.kill(9)
    celery_workers.start("w1", SIM_CHECKPOINT_TICKS="1000")
    wait_until(
        lambda: Checkpoint.objects.get(host=host).clock > first,
        60,
        "the restored engine was not checkpointed after its first tick",
    )


def test_a_lock_left_by_a_worker_killed_mid_tick_is_taken_over_by_its_restart(
    celery_workers, clean_redis
):
    host, _ = _toucher_host()
    worker, nodename = celery_workers.start("w1")
    celery_workers.start_beat()
    _more_samples(host, 2, "no samples")
    # What a worker killed in the middle of a tick leaves behind: the host's lock, held under
    # its name and incarnation, for the lock's whole TTL.
    incarnation = clean_redis.get(f"vmemlab:worker:{nodename}:incarnation").decode()
    worker.kill(9)
    clean_redis.set(
        f"vmemlab:host:{host.pk}:lock", f"{nodename} {incarnation}", ex=routing.LOCK_TTL
    )
    celery_workers.start("w1")
    # Within a few ticks, far sooner than the lock's TTL.
    _more_samples(host, 2, "the restarted worker waited for the dead worker's lock to expire")
    assert (
        clean_redis.ttl(f"vmemlab:host:{host.pk}:lock") in (-2, -1)
        or (routing.lock_holder(host.pk) or "").split(" ")[-1] != incarnation
    )
