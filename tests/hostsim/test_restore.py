"""Restoring a host's engine from its checkpoint, in-process: the guests carry on where they were.

A process that has no engine for a host (a new worker, a restart after a crash, a takeover) builds
it from the checkpoint. These tests pin that path: a restore that silently started a new engine
would reboot every guest, and they would see it.
"""

import logging
from datetime import timedelta

import pytest

from hostsim import guest_operations, runtime
from hostsim.models import REALTIME_INTERVAL, Checkpoint, EntityKind, Sample
from pools import services

pytestmark = [pytest.mark.django_db(transaction=True)]

ALLOCATED_MB = 300
DRIFT = 0.02  # the guest's own kernel and page cache move its used memory a little every tick


def carried_on(after: int, before: int) -> bool:
    """The guest kept what it held (a rebooted guest starts with a small fraction of it)."""
    return abs(after - before) <= DRIFT * before


@pytest.fixture
def host(clean_redis):
    host = services.create_host(name="esxi-restore", memory_mb=4096, cpu_mhz=8000, seed=5)
    yield host
    runtime.forget(host.pk)


@pytest.fixture
def toucher(host):
    vm = services.create_vm(host, name="toucher", memory_mb=1024, vcpus=1, workload="toucher")
    return services.power_on(vm)


def _latest(vm) -> dict:
    row = (
        Sample.objects.filter(
            entity_kind=EntityKind.VM, entity_id=vm.pk, interval=REALTIME_INTERVAL
        )
        .order_by("-ts")
        .first()
    )
    return row.values


def _allocate(vm, mb: int) -> None:
    guest_operations.request_guest_operation(vm, "allocate", mb)
    assert runtime.tick(vm.host_id) == "ticked"


def test_a_restored_engine_keeps_the_memory_its_guest_allocated(host, toucher, settings):
    settings.SIM_CHECKPOINT_TICKS = 1  # the checkpoint holds the allocation itself, no replay
    runtime.tick(host.pk)
    _allocate(toucher, ALLOCATED_MB)
    runtime.tick(host.pk)
    before = _latest(toucher)
    assert before["lab.guest.used"] >= ALLOCATED_MB * 1024

    runtime.forget(host.pk)  # as a restarted worker: no engine in memory
    assert runtime.tick(host.pk) == "ticked"
    after = _latest(toucher)
    assert carried_on(after["lab.guest.used"], before["lab.guest.used"])
    assert after["mem.granted"] >= before["mem.granted"]


def test_guest_operations_applied_after_the_checkpoint_are_replayed_on_restore(
    host, toucher, settings
):
    settings.SIM_CHECKPOINT_TICKS = 1000  # only the first tick's checkpoint
    runtime.tick(host.pk)
    _allocate(toucher, ALLOCATED_MB)
    before = _latest(toucher)

    runtime.forget(host.pk)
    runtime.tick(host.pk)
    assert carried_on(_latest(toucher)["lab.guest.used"], before["lab.guest.used"])


def test_a_restored_engine_is_checkpointed_after_its_first_tick(host, toucher, settings):
    settings.SIM_CHECKPOINT_TICKS = 1000
    for _ in range(3):
        runtime.tick(host.pk)
    first = Checkpoint.objects.get(host=host).clock

    runtime.forget(host.pk)
    runtime.tick(host.pk)
    newest = Sample.objects.filter(entity_kind=EntityKind.HOST, entity_id=host.pk).latest("ts").ts
    assert first < Checkpoint.objects.get(host=host).clock == newest


def test_an_unreadable_checkpoint_is_an_error_in_the_log_and_a_new_engine_starts(
    host, toucher, caplog
):
    runtime.tick(host.pk)
    Checkpoint.objects.filter(host=host).update(engine_state=b"not a checkpoint")
    runtime.forget(host.pk)

    with caplog.at_level(logging.ERROR, logger="hostsim.runtime"):
        assert runtime.tick(host.pk) == "ticked"
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and "cannot be read" in errors[0].getMessage()
    newest = Sample.objects.filter(entity_kind=EntityKind.HOST, entity_id=host.pk).order_by("-ts")
    assert newest[0].ts - newest[1].ts == timedelta(seconds=REALTIME_INTERVAL)  # the clock goes on


def test_a_checkpoint_written_with_zlib_before_zstandard_still_resumes_its_guests(
    host, toucher, settings
):
    import zlib

    settings.SIM_CHECKPOINT_TICKS = 1
    runtime.tick(host.pk)
    _allocate(toucher, ALLOCATED_MB)
    before = _latest(toucher)["lab.guest.used"]
    stored = Checkpoint.objects.get(host=host)
    assert bytes(stored.engine_state).startswith(runtime.ZSTD_MAGIC)
    snapshot = runtime.unpack_engine_state(bytes(stored.engine_state))
    Checkpoint.objects.filter(host=host).update(engine_state=zlib.compress(snapshot, 1))

    runtime.forget(host.pk)
    assert runtime.tick(host.pk) == "ticked"
    assert carried_on(_latest(toucher)["lab.guest.used"], before)
