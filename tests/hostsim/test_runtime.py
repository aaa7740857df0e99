"""The host actor in-process: ticks, config by version, guest operations, fast-forward, rollups."""

from datetime import timedelta

import pytest
import redis

from hostsim import guest_operations, rollups, routing, runtime
from hostsim.engine import vmkernel_reserved_mb
from hostsim.models import REALTIME_INTERVAL, Checkpoint, EntityKind, GuestOperation, Sample
from pools import services
from pools.errors import InvalidOperation

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def host(clean_redis):
    host = services.create_host(
        name="esxi-rt",
        memory_mb=4096,
        cpu_mhz=8000,
        seed=3,
        advanced_settings={"Mem.ShareForceSalting": 0},
    )
    yield host
    runtime.forget(host.pk)


def _vm(host, name="vm", on=True, **settings):
    vm = services.create_vm(host, name=name, memory_mb=512, vcpus=1, **settings)
    return services.power_on(vm) if on else vm


def _series(kind, entity_id, counter, interval=REALTIME_INTERVAL):
    rows = Sample.objects.filter(entity_kind=kind, entity_id=entity_id, interval=interval).order_by(
        "ts"
    )
    return [row.values[counter] for row in rows]


def test_a_tick_stores_one_sample_per_entity_twenty_seconds_apart(host):
    vm = _vm(host)
    root = services.ensure_root_pool(host)
    assert runtime.tick(host.pk) == "ticked"
    assert runtime.tick(host.pk) == "ticked"
    times = list(
        Sample.objects.filter(entity_kind=EntityKind.HOST, entity_id=host.pk)
        .order_by("ts")
        .values_list("ts", flat=True)
    )
    assert len(times) == 2 and times[1] - times[0] == timedelta(seconds=REALTIME_INTERVAL)
    assert len(_series(EntityKind.VM, vm.pk, "mem.granted")) == 2
    assert _series(EntityKind.POOL, root.pk, "mem.granted") == _series(
        EntityKind.VM, vm.pk, "mem.granted"
    )


def test_a_fast_forward_stores_every_tick_of_its_vms_and_their_pools_sums(host):
    """A chunk stores its ticks in one batch: each tick still gets a row per VM, host and pool,
    and each pool row is the sum of that tick's VM rows, not another tick's."""
    web, db = _vm(host, "web"), _vm(host, "db")
    root = services.ensure_root_pool(host)
    summary = runtime.advance(host.pk, 30 * REALTIME_INTERVAL)
    assert summary["state"] == "done" and summary["ticks"] == 30
    vm_sums = [
        a + b
        for a, b in zip(
            _series(EntityKind.VM, web.pk, "mem.granted"),
            _series(EntityKind.VM, db.pk, "mem.granted"),
            strict=True,
        )
    ]
    assert len(vm_sums) == 30 and len(set(vm_sums)) > 1  # the guests grew while it ran
    assert _series(EntityKind.POOL, root.pk, "mem.granted") == vm_sums
    hosts = Sample.objects.filter(entity_kind=EntityKind.HOST, entity_id=host.pk)
    assert hosts.filter(interval=REALTIME_INTERVAL).count() == 30


def test_a_busy_host_skips_the_tick(host):
    _vm(host)
    with runtime.host_lock(host.pk):
        assert runtime.tick(host.pk) == "skipped"
    assert not Sample.objects.filter(host=host).exists()


def test_a_lock_release_that_never_reaches_redis_fails_nothing_and_is_taken_back(
    host, monkeypatch, caplog
):
    """Redis away for a moment as a tick ends: the tick stands, and this process's next tick
    takes its own left-behind lock back instead of skipping the host for the lock's TTL; to any
    other process the host stays busy until then."""
    _vm(host)
    release = redis.lock.Lock.release

    def lost(lock):
        raise redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")

    monkeypatch.setattr(redis.lock.Lock, "release", lost)
    assert runtime.tick(host.pk) == "ticked"
    assert "could not release the lock of host" in caplog.text
    left_behind = routing.lock_holder(host.pk)
    assert left_behind == routing.identity.token()
    monkeypatch.setattr(redis.lock.Lock, "release", release)
    monkeypatch.setattr(routing.identity, "token", lambda: "process:another 1")
    assert runtime.tick(host.pk) == "skipped"
    monkeypatch.undo()
    assert runtime.tick(host.pk) == "ticked"
    assert routing.lock_holder(host.pk) is None
    assert Sample.objects.filter(host=host, entity_kind=EntityKind.HOST).count() == 2


def test_guest_allocation_grows_granted_and_freeing_does_not_shrink_it(host):
    vm = _vm(host, workload="toucher")
    runtime.tick(host.pk)
    guest_operations.request_guest_operation(vm, "allocate", 128)
    runtime.tick(host.pk)
    granted_after_allocate = _series(EntityKind.VM, vm.pk, "mem.granted")[-1]
    guest_operations.request_guest_operation(vm, "free", 128)
    runtime.tick(host.pk)
    assert granted_after_allocate >= 128 * 1024
    assert _series(EntityKind.VM, vm.pk, "mem.granted")[-1] == granted_after_allocate
    assert (
        _series(EntityKind.VM, vm.pk, "lab.guest.used")[-1]
        < _series(EntityKind.VM, vm.pk, "lab.guest.used")[-2]
    )
    assert set(GuestOperation.objects.values_list("outcome", flat=True)) == {
        GuestOperation.Outcome.APPLIED
    }


def test_a_vm_powered_off_and_on_between_two_ticks_boots_afresh(host):
    vm = _vm(host, workload="toucher")
    guest_operations.request_guest_operation(vm, "allocate", 256)
    runtime.tick(host.pk)
    runtime.tick(host.pk)
    granted = _series(EntityKind.VM, vm.pk, "mem.granted")[-1]
    assert granted >= 256 * 1024
    services.power_off(vm)
    services.power_on(vm)  # no tick in between: both states alone look like nothing happened
    runtime.tick(host.pk)
    assert _series(EntityKind.VM, vm.pk, "mem.granted")[-1] < granted - 128 * 1024
    rebooted = _series(EntityKind.VM, vm.pk, "lab.guest.used")[-1]
    runtime.tick(host.pk)  # seen once: the next tick goes on from the fresh boot
    assert _series(EntityKind.VM, vm.pk, "lab.guest.used")[-1] >= rebooted


def test_powering_off_stops_the_vms_samples_and_releases_its_memory(host):
    vm = _vm(host, workload="toucher")
    guest_operations.request_guest_operation(vm, "allocate", 128)
    runtime.tick(host.pk)
    consumed_on = _series(EntityKind.HOST, host.pk, "mem.consumed")[-1]
    services.power_off(vm)
    runtime.tick(host.pk)
    assert len(_series(EntityKind.VM, vm.pk, "mem.granted")) == 1
    assert _series(EntityKind.HOST, host.pk, "mem.consumed")[-1] < consumed_on


def test_advanced_settings_reach_the_engine_by_version(host):
    _vm(host, name="a", workload="idle")
    _vm(host, name="b", workload="idle")
    services.update_host(
        host, advanced_settings={"Mem.ShareScanGHz": 0}
    )  # scanning off: nothing is ever shared
    runtime.advance(host.pk, 600)
    assert _series(EntityKind.HOST, host.pk, "mem.shared")[-1] == 0
    # the fixture's host has a hardware MMU: with 2 MB large pages (the default) plenty of free
    # memory would leave nothing shared, so they go off with the scan rate
    services.update_host(
        host,
        advanced_settings={
            "Mem.ShareScanGHz": 8,
            "Mem.ShareScanTime": 10,
            "Mem.AllocGuestLargePage": 0,
        },
    )
    runtime.advance(host.pk, 1200)
    assert _series(EntityKind.HOST, host.pk, "mem.shared")[-1] > 0


def test_fast_forward_stores_every_sample_and_rolls_them_up(host):
    _vm(host)
    result = runtime.advance(host.pk, 3600)
    assert result["ticks"] == 180
    assert (
        Sample.objects.filter(entity_kind=EntityKind.HOST, interval=REALTIME_INTERVAL).count()
        == 180
    )
    five_minute = Sample.objects.filter(entity_kind=EntityKind.HOST, interval=300)
    assert five_minute.count() >= 11
    row = five_minute.order_by("ts").first().values
    assert row["mem.granted.minimum"] <= row["mem.granted.average"] <= row["mem.granted.maximum"]
    assert Checkpoint.objects.filter(host=host).exists()


def test_a_stale_engine_restores_from_the_checkpoint_and_continues_the_clock(host):
    _vm(host)
    runtime.advance(host.pk, 200)  # checkpoint written at the end
    last = Sample.objects.filter(entity_kind=EntityKind.HOST).order_by("-ts").first().ts
    runtime.forget(host.pk)  # as if this were a new worker process
    runtime.tick(host.pk)
    newest = Sample.objects.filter(entity_kind=EntityKind.HOST).order_by("-ts").first().ts
    assert newest - last == timedelta(seconds=REALTIME_INTERVAL)


def test_rollup_is_idempotent_and_prunes_by_retention(host):
    _vm(host)
    runtime.advance(host.pk, 2 * 3600)
    before = Sample.objects.filter(host=host, interval=300).count()
    rollups.rollup_host(host.pk)
    assert Sample.objects.filter(host=host, interval=300).count() == before
    realtime = Sample.objects.filter(
        host=host, interval=REALTIME_INTERVAL, entity_kind=EntityKind.HOST
    )
    oldest, newest = realtime.order_by("ts").first().ts, realtime.order_by("-ts").first().ts
    assert newest - oldest <= timedelta(hours=1)


def test_a_vm_deleted_between_ticks_while_the_engine_still_runs_it_leaves_cleanly(host):
    vm = _vm(host, name="gone")
    other = _vm(host, name="stays")
    runtime.tick(host.pk)
    services.power_off(vm)
    services.delete_vm(vm)  # before any tick saw the power-off
    assert runtime.tick(host.pk) == "ticked"
    assert runtime.tick(host.pk) == "ticked"
    assert len(_series(EntityKind.VM, other.pk, "mem.granted")) == 3


def test_new_host_memory_rebuilds_the_engine_once_its_vms_are_off(host):
    vm = _vm(host)
    runtime.tick(host.pk)
    with pytest.raises(InvalidOperation, match="Power off the VMs"):
        services.update_host(host, memory_mb=8192)
    services.power_off(vm)
    services.update_host(host, memory_mb=8192)
    runtime.tick(host.pk)
    reservable = 8192 - vmkernel_reserved_mb(8192)  # MB, vSphere's "Total reservation" capacity
    assert _series(EntityKind.HOST, host.pk, "mem.totalCapacity")[-1] == reservable
