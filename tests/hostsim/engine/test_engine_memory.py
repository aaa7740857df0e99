"""Granted, consumed and the guest's own view: first touch, freeing, boot, power cycles, a full
host."""

import numpy as np
import pytest
from engine_testkit import MB, add_vm, assert_counter_invariants, boot, make_host

from hostsim.engine import EngineError, InsufficientMemoryError
from hostsim.engine.machine import RUN, MachineMemory, run_length


def test_a_vm_starts_with_nothing_granted(host):
    vm = add_vm(host, workload="webserver")
    counters = host.vm_counters(vm)
    assert counters["mem.granted"] == counters["mem.consumed"] == counters["lab.guest.used"] == 0
    host.step(20)
    assert host.vm_counters(vm)["mem.granted"] > 0  # the guest boots by touching memory


def test_the_first_touch_of_guest_memory_grants_and_consumes_it(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    before = host.vm_counters(vm)
    assert host.guest_allocate(vm, 32) == 32
    after = host.vm_counters(vm)
    assert after["mem.granted"] - before["mem.granted"] == 32 * MB
    assert after["mem.consumed"] - before["mem.consumed"] == 32 * MB
    assert after["lab.guest.used"] - before["lab.guest.used"] == 32 * MB


def test_freeing_in_the_guest_leaves_granted_and_consumed_unchanged(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    host.guest_allocate(vm, 48)
    allocated = host.vm_counters(vm)
    view = host.guest_view(vm)
    assert host.guest_free(vm, 48) == 48
    freed = host.vm_counters(vm)
    assert freed["mem.granted"] == allocated["mem.granted"]
    assert freed["mem.consumed"] == allocated["mem.consumed"]
    assert freed["lab.guest.used"] == allocated["lab.guest.used"] - 48 * MB
    assert host.guest_view(vm)["free"] == view["free"] + 48 * MB
    host.step(60)  # and time does not give it back either: only reclamation would
    assert host.vm_counters(vm)["mem.granted"] == allocated["mem.granted"]


def test_memory_freed_in_the_guest_is_reused_without_new_frames(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    host.guest_allocate(vm, 40)
    host.guest_free(vm, 40)
    granted = host.vm_counters(vm)["mem.granted"]
    host.guest_allocate(vm, 40)
    assert host.vm_counters(vm)["mem.granted"] == granted


def test_freeing_more_than_the_process_holds_frees_what_it_holds(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    host.guest_allocate(vm, 8)
    assert host.guest_free(vm, 100) == 8


def test_windows_is_fully_granted_after_boot_and_linux_is_not(host):
    windows = add_vm(host, "w", memory_mb=256, guest_os="windows")
    linux = add_vm(host, "l", memory_mb=256, guest_os="linux")
    boot(host)
    assert host.vm_counters(windows)["mem.granted"] == 256 * MB
    assert 0 < host.vm_counters(linux)["mem.granted"] < 256 * MB // 2
    # ... even though the Windows guest itself uses only part of it: the rest is zeroed free memory.
    assert host.guest_view(windows)["used"] < 256 * MB // 2


def test_a_windows_guest_boot_leaves_mostly_zero_pages_that_sharing_collapses(host):
    host.set_settings(**{"Mem.AllocGuestLargePage": 0})  # 4 KB pages, shareable at once
    vm = add_vm(host, memory_mb=256, guest_os="windows")
    boot(host)
    host.share_scan_full()
    counters = host.vm_counters(vm)
    assert counters["mem.zero"] > 128 * MB
    assert counters["mem.consumed"] < counters["mem.granted"] - 128 * MB


def test_powering_off_releases_every_frame(host):
    idle = host.host_counters()
    vm = add_vm(host, memory_mb=256, guest_os="windows", workload="database")
    other = add_vm(host, "other", memory_mb=128, workload="webserver")
    host.step(300)
    host.share_scan_full()
    assert host.host_counters()["mem.consumed"] > idle["mem.consumed"] + 256 * MB
    host.power_off(vm)
    host.power_off(other)
    after = host.host_counters()
    assert after["mem.consumed"] == idle["mem.consumed"]
    assert (
        after["mem.granted"]
        == after["mem.shared"]
        == after["mem.sharedcommon"]
        == after["mem.overhead"]
        == 0
    )
    assert all(value == 0 for value in host.vm_counters(vm).values())
    assert not host.is_powered_on(vm)
    host.audit()


def test_powering_on_again_is_a_fresh_boot_from_nothing(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    host.guest_allocate(vm, 64)
    host.power_off(vm)
    host.power_on(vm)
    assert host.vm_counters(vm)["mem.granted"] == 0
    assert host.guest_view(vm)["processes"][-1]["resident"] == 0
    boot(host)
    assert 0 < host.vm_counters(vm)["mem.granted"] < 64 * MB


def test_a_guest_that_outgrows_the_host_is_swapped_and_no_write_is_dropped():
    sim = make_host(memory_mb=256)
    vm = add_vm(sim, memory_mb=256, workload="toucher")
    boot(sim)
    before = sim.guest_view(vm)
    got = sim.guest_allocate(vm, 256)
    # The guest got all it had (its free memory and page cache), though the host has less.
    assert got * MB == before["free"] + before["page_cache"]
    counters = sim.vm_counters(vm)
    assert counters["mem.swapped"] + counters["mem.compressed"] > 0
    view = sim.guest_view(vm)
    assert sum(view["held"].values()) == view["used"]  # every page the guest uses is held
    sim.guest_write(vm, 1.0)  # rewriting swapped pages faults them in first
    sim.step(120)
    assert sim.vm_counters(vm)["mem.swapin"] + sim.vm_counters(vm)["mem.decompressionRate"] > 0
    assert_counter_invariants(sim)
    sim.audit()


def test_power_on_works_on_a_full_host_by_reclaiming_from_the_running_vms():
    sim = make_host(memory_mb=256)
    first = add_vm(sim, "first", memory_mb=256, workload="toucher")
    boot(sim)
    sim.guest_allocate(first, 256)  # fills the host
    second = add_vm(sim, "second", memory_mb=128)
    assert sim.is_powered_on(second)
    boot(sim)
    assert sim.vm_counters(second)["mem.granted"] > 0
    assert_counter_invariants(sim)
    sim.audit()


def test_power_on_is_refused_only_when_reservations_cannot_be_held():
    sim = make_host(memory_mb=256)
    first = add_vm(sim, "first", memory_mb=256, workload="toucher", reservation_mb=180)
    second = add_vm(sim, "second", memory_mb=128, reservation_mb=64, on=False)
    state = sim.snapshot()
    with pytest.raises(InsufficientMemoryError) as refused:
        sim.power_on(second)
    assert isinstance(refused.value, ValueError) and "reserved" in str(refused.value)
    assert refused.value.requested_kb > refused.value.free_kb
    assert sim.snapshot() == state
    sim.power_off(first)
    sim.power_on(second)  # the same request succeeds once the reservation is released


def test_the_guest_view_accounts_for_every_page(host):
    vm = add_vm(host, memory_mb=256, workload="webserver")
    host.step(200)
    view = host.guest_view(vm)
    assert view["powered_on"] and view["booted"] and view["os"] == "linux"
    assert view["total"] == 256 * MB == view["used"] + view["free"]
    assert view["used"] == host.vm_counters(vm)["lab.guest.used"]
    held = (
        view["kernel"]
        + view["page_cache"]
        + view["balloon"]
        + sum(process["resident"] for process in view["processes"])
    )
    assert held == view["used"]
    assert [process["name"] for process in view["processes"]] == ["webserver", "toucher"]


def test_a_powered_off_vm_has_no_guest_view_figures(host):
    vm = add_vm(host, on=False)
    view = host.guest_view(vm)
    assert (
        not view["powered_on"] and view["used"] == view["free"] == 0 and view["total"] == 128 * MB
    )
    with pytest.raises(EngineError):
        host.guest_allocate(vm, 1)


def test_raising_a_running_vms_reservation_beyond_the_host_is_refused_and_changes_nothing():
    sim = make_host(memory_mb=512)
    first = add_vm(sim, "first", memory_mb=512, reservation_mb=300)
    second = add_vm(sim, "second", memory_mb=256)
    boot(sim)
    state = sim.snapshot()
    with pytest.raises(InsufficientMemoryError, match="reserved"):
        sim.set_vm(second, reservation_mb=200)
    assert sim.snapshot() == state
    sim.set_vm(first, reservation_mb=100)
    sim.set_vm(second, reservation_mb=200)  # room once the other reservation shrinks
    assert sim.vm_config(second).reservation_mb == 200
    sim.audit()


def test_fresh_frames_come_in_short_runs_in_a_seeded_order_that_covers_every_frame_once():
    frames = 1 << 14
    machine = MachineMemory(frames, np.random.default_rng(7))
    taken = np.concatenate([machine.take(1000, owner=0) for _ in range(frames // 1000)])
    taken = np.concatenate([taken, machine.take(frames - taken.size, owner=0)])
    assert np.array_equal(np.sort(taken), np.arange(frames))  # a bijection: no frame twice
    runs = taken.reshape(-1, RUN)
    assert (np.diff(runs, axis=1) == 1).all()  # each run in order...
    starts = runs[:, 0]
    assert (starts % RUN == 0).all()
    assert np.count_nonzero(np.diff(starts) != RUN) > 0.9 * starts.size  # ...runs scattered
    assert run_length(frames + 8) == 8 and run_length(frames + 1) == 1


def test_a_machine_saved_before_runs_goes_on_handing_out_single_frames():
    machine = MachineMemory(1 << 12, np.random.default_rng(3))
    machine.take(10, owner=0)
    state = machine.to_state()
    next_, stride, offset, _run = state["fresh"]
    state["fresh"] = [next_, stride, offset]  # as snapshots stored it before
    restored = MachineMemory.from_state(state)
    expected = (np.arange(next_, next_ + 5) * stride + offset) % machine.frames
    assert np.array_equal(restored.take(5, owner=0), expected)
