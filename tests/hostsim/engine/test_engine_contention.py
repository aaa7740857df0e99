"""Memory under contention (DESIGN.md 4b): free memory states, entitlement, ballooning,
compression, swapping, and no write ever dropped. Cases from VMware's documentation and
Waldspurger's OSDI 2002 paper.
"""

import math

import pytest
from engine_testkit import MB, add_vm, assert_counter_invariants, boot, make_host

from hostsim.engine import HostSim, min_free_mb, vm_overhead_mb, vmkernel_reserved_mb

HIGH, CLEAR, SOFT, HARD, LOW = range(5)


def _free_kb(sim: HostSim) -> int:
    return sim.memory_mb * MB - sim.host_counters()["mem.consumed"]


def _reclaimed_mb(sim: HostSim, vm: int) -> float:
    counters = sim.vm_counters(vm)
    return (counters["mem.vmmemctl"] + counters["mem.swapped"] + counters["mem.compressed"]) / MB


def _unique(sim: HostSim, vm: int, mb: float) -> None:
    """The toucher allocates `mb` and fills it with data of its own (nothing to share)."""
    sim.guest_allocate(vm, mb)
    sim.guest_write(vm, 1.0)


# ---------------------------------------------------------------------------- minFree and states


def test_min_free_follows_esxis_sliding_scale():
    # vSphere: 6% of the first 4 GB, 4% of the next 8 GB, 2% of the next 16 GB, 1% of the rest.
    assert min_free_mb(28 * 1024) == pytest.approx(901.12)
    assert min_free_mb(128 * 1024) == pytest.approx(1925.12)
    sim = make_host(memory_mb=8192)
    assert sim.host_counters()["mem.lowfreethreshold"] == pytest.approx(409.6 * MB, abs=4)


def test_mem_min_free_pct_replaces_the_sliding_scale_by_a_percentage():
    sim = make_host(memory_mb=8192, Mem_MemMinFreePct=10)
    assert sim.host_counters()["mem.lowfreethreshold"] == pytest.approx(819.2 * MB, abs=4)
    sim.set_settings(**{"Mem.MemMinFreePct": 0})
    assert sim.host_counters()["mem.lowfreethreshold"] == pytest.approx(409.6 * MB, abs=4)


@pytest.fixture
def filling():
    """An 8 GB host whose one VM can touch more than the host has; no step, so no reclamation."""
    sim = make_host(memory_mb=8192)
    vm = add_vm(sim, memory_mb=8192, vcpus=16, workload="toucher", balloon=False)
    boot(sim)
    min_free = sim.host_counters()["mem.lowfreethreshold"]

    def fill_to(share_of_min_free: float) -> int:
        sim.guest_allocate(vm, (_free_kb(sim) - share_of_min_free * min_free) / MB)
        return sim.host_counters()["mem.state"]

    return sim, vm, fill_to


def test_the_free_memory_state_follows_free_memory_against_min_free(filling):
    sim, _, fill_to = filling
    assert sim.host_counters()["mem.state"] == HIGH
    # vSphere 6.0+: clear below 100% of minFree, soft below 64%, hard below 32%, low below 16%.
    assert [fill_to(share) for share in (1.2, 0.9, 0.6, 0.3, 0.1)] == [
        HIGH,
        CLEAR,
        SOFT,
        HARD,
        LOW,
    ]
    assert sim.esxtop()["PMEM"]["state"] == "low"


def test_a_better_state_begins_only_a_margin_past_its_threshold(filling):
    sim, vm, fill_to = filling
    assert fill_to(0.635) == SOFT
    sim.set_vm(vm, vcpus=15)  # its overhead shrinks by 4 MB: free rises just past 64% of minFree
    free_share = _free_kb(sim) / sim.host_counters()["mem.lowfreethreshold"]
    assert 0.64 < free_share < 0.66
    assert sim.host_counters()["mem.state"] == SOFT  # no flapping at the threshold
    sim.set_vm(vm, vcpus=5)  # 40 MB more: still within the margin (12% of minFree, 49 MB)
    assert sim.host_counters()["mem.state"] == SOFT
    sim.set_vm(vm, vcpus=1)  # 16 MB more: past it
    assert sim.host_counters()["mem.state"] == CLEAR
    assert fill_to(0.63) == SOFT  # and below it again, soft at once


def test_reclamation_brings_a_host_in_the_low_state_back_to_high(filling):
    sim, vm, fill_to = filling
    sim.guest_write(vm, 1.0)  # nothing left to share: it must be swapped
    assert fill_to(0.1) == LOW
    sim.step(20)
    assert sim.host_counters()["mem.state"] == HIGH
    assert sim.vm_counters(vm)["mem.swapped"] + sim.vm_counters(vm)["mem.compressed"] > 0
    sim.audit()


# ---------------------------------------------------------------------------- limits


def _limited_vm(**config):
    """vSphere's classic case: a 4 GB VM with a 1 GB limit on a host with 20 GB free."""
    sim = make_host(memory_mb=24 * 1024)
    vm = add_vm(sim, memory_mb=4096, workload="toucher", **config)
    boot(sim)
    _unique(sim, vm, 3072)
    sim.set_vm(vm, limit_mb=1024)
    return sim, vm


def test_a_4_gb_vm_limited_to_1_gb_balloons_and_swaps_with_20_gb_free():
    sim, vm = _limited_vm()
    sim.step(15)  # one balance period
    assert sim.vm_counters(vm)["mem.granted"] <= 1024 * MB
    sim.step(300)
    counters = sim.vm_counters(vm)
    assert counters["mem.granted"] <= 1024 * MB
    # The balloon takes what it may, Mem.CtlMaxPercent 65% of the VM; the rest is swapped.
    assert counters["mem.vmmemctl"] == counters["mem.vmmemctltarget"]
    assert counters["mem.vmmemctl"] == pytest.approx(0.65 * 4096 * MB, abs=4)
    assert counters["mem.swapped"] + counters["mem.compressed"] >= (3072 - 1024 - 2662) * MB
    assert counters["mem.swapped"] > 0
    assert sim.host_counters()["mem.state"] == HIGH
    assert _free_kb(sim) > 20 * 1024 * MB
    view = sim.guest_view(vm)
    assert view["balloon"] == counters["mem.vmmemctl"]
    assert sum(view["held"].values()) == view["used"]
    assert_counter_invariants(sim)
    sim.audit()


def test_a_vm_without_the_balloon_driver_is_swapped_instead():
    sim, vm = _limited_vm(balloon=False)
    sim.step(60)
    counters = sim.vm_counters(vm)
    assert counters["mem.vmmemctl"] == 0
    assert counters["mem.granted"] <= 1024 * MB
    assert counters["mem.swapped"] + counters["mem.compressed"] >= 2000 * MB
    sim.audit()


def test_a_smaller_mem_ctl_max_percent_leaves_more_to_swapping():
    sim, vm = _limited_vm()
    sim.set_settings(**{"Mem.CtlMaxPercent": 20})
    sim.step(300)
    counters = sim.vm_counters(vm)
    assert counters["mem.vmmemctl"] <= 0.20 * 4096 * MB
    assert counters["mem.granted"] <= 1024 * MB
    sim.set_settings(**{"Mem.CtlMaxPercent": 0})  # 0 disables ballooning altogether
    sim.step(20)
    assert sim.vm_counters(vm)["mem.vmmemctl"] == 0
    sim.audit()


def test_turning_the_balloon_driver_off_gives_its_pages_back_to_the_guest():
    sim, vm = _limited_vm()
    sim.step(120)
    assert sim.vm_counters(vm)["mem.vmmemctl"] > 0
    sim.set_vm(vm, balloon=False)
    sim.step(20)
    assert sim.vm_counters(vm)["mem.vmmemctl"] == 0 == sim.guest_view(vm)["balloon"]
    assert sim.vm_counters(vm)["mem.granted"] <= 1024 * MB  # the limit still holds, by swapping
    sim.audit()


# ---------------------------------------------------------------------------- entitlement


def _contended_pair(busy=(True, True), minutes=15, **configs):
    """Two 2 GB VMs on a 2 GB host, each holding 1.5 GB of data of its own."""
    sim = make_host(memory_mb=2048)
    a = add_vm(sim, "a", memory_mb=2048, workload="toucher", **configs.get("a", {}))
    b = add_vm(sim, "b", memory_mb=2048, workload="toucher", **configs.get("b", {}))
    boot(sim)
    for vm in (a, b):
        _unique(sim, vm, 1536)
    for _ in range(minutes):
        for vm, active in zip((a, b), busy, strict=True):
            if active:
                sim.guest_write(vm, 1.0)
        sim.step(60)
    return sim, a, b


def test_shares_of_2_to_1_under_contention_give_2_to_1_of_the_memory():
    sim, a, b = _contended_pair(a={"shares": 40_000}, b={"shares": 20_000})
    high, low = sim.vm_counters(a), sim.vm_counters(b)
    assert high["mem.entitlement"] / low["mem.entitlement"] == pytest.approx(2, rel=0.05)
    assert high["mem.granted"] / low["mem.granted"] == pytest.approx(2, rel=0.15)
    assert_counter_invariants(sim)
    sim.audit()


def test_normal_shares_are_ten_per_configured_mb():
    sim, a, b = _contended_pair(a={"shares": 20_480})  # what "normal" gives a 2 GB VM
    first, second = sim.vm_counters(a), sim.vm_counters(b)
    assert first["mem.entitlement"] == pytest.approx(second["mem.entitlement"], rel=0.02)


def test_a_reservation_wins_under_contention():
    sim, a, b = _contended_pair(a={"reservation_mb": 1400})
    reserved, other = sim.vm_counters(a), sim.vm_counters(b)
    assert reserved["mem.entitlement"] >= 1400 * MB
    assert reserved["mem.granted"] >= 1400 * MB > other["mem.granted"]
    assert sim.host_counters()["mem.reservedCapacity"] >= 1400
    sim.audit()


def _busy_idle_and_newcomer(**settings):
    """A busy and an idle VM share a 2 GB host until a third, busy one arrives."""
    sim = make_host(memory_mb=2048, **settings)
    busy = add_vm(sim, "busy", memory_mb=1024, workload="toucher")
    idle = add_vm(sim, "idle", memory_mb=1024, workload="toucher")
    boot(sim)
    for vm in (busy, idle):
        _unique(sim, vm, 700)
    for _ in range(5):
        sim.guest_write(busy, 1.0)
        sim.step(60)
    newcomer = add_vm(sim, "new", memory_mb=1024, workload="toucher")
    boot(sim)
    _unique(sim, newcomer, 700)
    for _ in range(10):
        sim.guest_write(busy, 1.0)
        sim.guest_write(newcomer, 1.0)
        sim.step(60)
    sim.audit()
    return sim, busy, idle


def test_the_idle_tax_takes_memory_from_idle_vms_first():
    sim, busy, idle = _busy_idle_and_newcomer()
    assert _reclaimed_mb(sim, idle) > 3 * _reclaimed_mb(sim, busy)
    assert sim.vm_counters(idle)["mem.granted"] < sim.vm_counters(busy)["mem.granted"] / 3


def test_without_the_idle_tax_shares_alone_decide():
    sim, busy, idle = _busy_idle_and_newcomer(Mem_IdleTax=0)
    busy_granted, idle_granted = (sim.vm_counters(vm)["mem.granted"] for vm in (busy, idle))
    assert idle_granted == pytest.approx(busy_granted, rel=0.15)


# ---------------------------------------------------------------------------- reclamation


def _swapping_host(**settings):
    """A VM without the balloon driver, limited to a quarter of the 900 MB of data it holds."""
    sim = make_host(memory_mb=2048, **settings)
    vm = add_vm(sim, memory_mb=1024, workload="toucher", balloon=False, limit_mb=256)
    boot(sim)
    _unique(sim, vm, 900)
    sim.step(60)
    return sim, vm


def test_the_compression_cache_stays_within_mem_zip_max_pct():
    sim, vm = _swapping_host()
    counters = sim.vm_counters(vm)
    cache = counters["mem.compressed"] - counters["mem.zipSaved"]
    assert counters["mem.compressed"] > 0 and counters["mem.zipSaved"] > 0
    assert 0 < cache <= 0.10 * 1024 * MB + 4  # 10% of the VM's memory
    assert counters["mem.swapped"] > 0  # what did not fit, or compresses badly, went to disk
    sim.set_settings(**{"Mem.MemZipMaxPct": 5})
    sim.step(20)
    counters = sim.vm_counters(vm)
    assert counters["mem.compressed"] - counters["mem.zipSaved"] <= 0.05 * 1024 * MB + 4
    sim.audit()


def test_with_mem_zip_enable_0_nothing_is_compressed():
    sim, vm = _swapping_host(Mem_MemZipEnable=0)
    counters = sim.vm_counters(vm)
    assert counters["mem.compressed"] == counters["mem.zipSaved"] == 0
    assert counters["mem.swapped"] > 0
    sim.audit()


def _hard_pressed(contents: str):
    """A 1 GB host brought to the hard state by a VM without the balloon driver."""
    sim = make_host(memory_mb=1024, Mem_ShareScanGHz=0)  # no TPS scan: only share before swap
    vm = add_vm(sim, memory_mb=1024, workload="toucher", balloon=False)
    boot(sim)
    min_free = sim.host_counters()["mem.lowfreethreshold"]
    # anonymous memory is zero-filled: the toucher's pages are all zero pages
    sim.guest_allocate(vm, (_free_kb(sim) - 0.2 * min_free) / MB)
    if contents == "data":
        sim.guest_write(vm, 1.0)
    assert sim.host_counters()["mem.state"] == HARD
    sim.step(20)
    assert sim.host_counters()["mem.state"] == HIGH
    return sim.vm_counters(vm)


def test_zero_pages_are_shared_before_any_is_swapped():
    zeros, data = _hard_pressed("zeros"), _hard_pressed("data")
    assert zeros["mem.zero"] > 40 * MB  # the reclaimed zero pages were shared ...
    assert zeros["mem.swapped"] + zeros["mem.compressed"] < zeros["mem.zero"] / 4  # ... not swapped
    assert data["mem.swapped"] + data["mem.compressed"] > 40 * MB  # data has to go


def test_a_guest_touching_swapped_memory_waits_and_mem_latency_shows_it():
    sim, vm = _swapping_host()
    sim.set_vm(vm, limit_mb=-1)  # the host has room now: coming back needs no reclaiming
    sim.step(20)
    quiet = sim.vm_counters(vm)
    assert quiet["mem.latency"] < 100  # idle: it touches almost nothing of what was swapped
    sim.guest_write(vm, 1.0)  # rewrites everything it holds, swapped pages included
    sim.step(20)
    touched = sim.vm_counters(vm)
    assert touched["mem.swapin"] > quiet["mem.swapin"]
    assert touched["mem.swapinRate"] > 0 and touched["mem.decompressionRate"] > 0
    assert touched["mem.latency"] > quiet["mem.latency"]
    assert isinstance(touched["mem.latency"], int) and touched["mem.latency"] <= 10_000
    host = sim.host_counters()
    assert host["mem.swapinRate"] == touched["mem.swapinRate"]
    sim.audit()


def test_a_growing_database_makes_the_others_balloon_and_they_deflate_once_it_is_gone():
    sim = make_host(memory_mb=2048)
    quiet = add_vm(sim, "quiet", memory_mb=1024, workload="toucher")
    boot(sim)
    _unique(sim, quiet, 800)
    sim.guest_free(quiet, 800)  # free in the guest, still backed: the balloon's first pick
    database = add_vm(sim, "database", memory_mb=2048, workload="database")
    states = set()
    for _ in range(15):
        sim.step(20)
        states.add(sim.host_counters()["mem.state"])
    assert SOFT in states
    ballooned = sim.vm_counters(quiet)["mem.vmmemctl"]
    assert ballooned > 0
    assert sim.guest_view(quiet)["balloon"] == ballooned  # the guest sees its balloon driver
    sim.power_off(database)
    sim.step(120)
    assert sim.host_counters()["mem.state"] == HIGH
    assert sim.vm_counters(quiet)["mem.vmmemctl"] == 0
    sim.audit()


def test_the_issues_eight_gb_host_with_six_2_gb_vms_starves_none_and_drops_nothing():
    sim = make_host(memory_mb=8192)
    vms = [add_vm(sim, f"vm{i}", memory_mb=2048, workload="toucher") for i in range(6)]
    boot(sim)
    for vm in vms:
        assert sim.guest_allocate(vm, 2048) > 1900  # every VM gets what its guest asks
        sim.guest_write(vm, 1.0)
    sim.step(3600)
    granted = [sim.vm_counters(vm)["mem.granted"] / MB for vm in vms]
    assert min(granted) > 700 and max(granted) / min(granted) < 1.5  # nobody left at 65 MB
    for vm in vms:
        view = sim.guest_view(vm)
        assert view["used"] == 2048 * MB
        assert sum(view["held"].values()) == view["used"]  # the guest's pages are all held
    seventh = add_vm(sim, "seventh", memory_mb=2048, workload="webserver")  # no refusal
    sim.step(600)
    assert sim.vm_counters(seventh)["mem.granted"] > 0
    assert_counter_invariants(sim)
    sim.audit()


# ---------------------------------------------------------------------------- what is reported


def test_host_capacity_counters_are_in_mb_and_come_from_one_vmkernel_model():
    sim = make_host(memory_mb=8192)
    add_vm(sim, "reserved", memory_mb=1024, reservation_mb=512)
    host = sim.host_counters()
    # vSphere's "Total reservation": what the root pool may reserve, host memory minus VMkernel
    assert host["mem.totalCapacity"] == 8192 - vmkernel_reserved_mb(8192)
    assert host["mem.sysUsage"] == vmkernel_reserved_mb(8192) * MB
    overhead_mb = vm_overhead_mb(1024, 1)
    assert host["mem.reservedCapacity"] == math.ceil(512 + overhead_mb)
    assert sim.vm_counters(sim.vm_ids()[0])["mem.overhead"] == round(overhead_mb * MB)


def test_esxtop_shows_the_memory_state_balloon_swap_and_compression_like_esxi():
    sim, vm = _limited_vm()
    sim.step(60)
    panel = sim.esxtop()
    assert panel["PMEM"]["state"] == "high" and panel["PMEM"]["minfree"] > 0
    counters = sim.vm_counters(vm)
    assert panel["MEMCTL"]["curr"] == pytest.approx(counters["mem.vmmemctl"] / MB, abs=0.01)
    assert panel["MEMCTL"]["target"] >= panel["MEMCTL"]["curr"] > 0
    assert panel["MEMCTL"]["max"] == pytest.approx(0.65 * 4096, abs=0.1)
    assert panel["SWAP"]["curr"] == pytest.approx(counters["mem.swapped"] / MB, abs=0.01)
    assert set(panel["SWAP"]) == {"curr", "rclmtgt", "r/s", "w/s"}
    assert panel["ZIP"]["zipped"] >= panel["ZIP"]["saved"] > 0
    (row,) = panel["vms"]
    for key in ("mctlsz", "mctltgt", "mctlmax", "swcur", "swtgt", "zip", "entitlement"):
        assert key in row
    assert row["mctlsz"] == panel["MEMCTL"]["curr"] and row["swcur"] == panel["SWAP"]["curr"]
    assert row["entitlement"] == pytest.approx(counters["mem.entitlement"] / MB, abs=0.01)
    assert (
        panel["PMEM"]["total"]
        == panel["PMEM"]["vmk"] + panel["PMEM"]["other"] + panel["PMEM"]["free"]
    )


def test_a_booting_guest_is_swapped_because_its_balloon_driver_is_not_running_yet():
    sim = make_host(memory_mb=2048)
    vm = add_vm(sim, memory_mb=512, guest_os="windows", limit_mb=128)  # Windows zeroes it all
    sim.step(20)
    assert not sim.guest_view(vm)["booted"]
    booting = sim.vm_counters(vm)
    assert booting["mem.vmmemctl"] == 0
    assert booting["mem.swapped"] + booting["mem.compressed"] > 0
    assert booting["mem.granted"] <= 128 * MB
    sim.step(120)
    assert sim.guest_view(vm)["booted"] and sim.vm_counters(vm)["mem.vmmemctl"] > 0
    sim.audit()
