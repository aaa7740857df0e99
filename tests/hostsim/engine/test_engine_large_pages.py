"""2 MB large pages on hardware-MMU hosts (issue 13 part 1; VMware KB 1021095; DESIGN.md 4b).

Through the engine's public interface: counters, the memory map, settings, snapshots, audit.
"""

import pytest
from engine_testkit import MB, add_vm, assert_counter_invariants, boot, make_host

from hostsim.engine import EngineError, HostSim
from hostsim.engine import memory_map as memory_map_module

LARGE = "Mem_AllocGuestLargePage"
HOST_MB = 1024  # minFree 61.4 MB (sliding scale): large pages break below 246 MB free
WINDOWS_MB = 256
BOOTED_S = 120


def _windows_host(hardware_mmu=True, large=1, vms=1, **settings) -> tuple[HostSim, list[int]]:
    """Idle Windows VMs (they zero all of their memory at boot), shared across VMs (salting 0)."""
    sim = make_host(
        HOST_MB,
        hardware_mmu=hardware_mmu,
        seed=3,
        Mem_ShareForceSalting=0,
        **{LARGE: large},
        **settings,
    )
    ids = []
    for n in range(vms):
        ids.append(add_vm(sim, f"win{n}", WINDOWS_MB, 2, guest_os="windows"))
        sim.step(BOOTED_S)
    return sim, ids


def _host(sim: HostSim, name: str) -> int:
    return sim.host_counters()[name]


def test_an_idle_windows_vm_on_an_ept_host_shares_almost_nothing_while_memory_is_plentiful():
    sim, (vm,) = _windows_host()
    sim.step(900)
    counters = sim.vm_counters(vm)
    assert counters["mem.granted"] == WINDOWS_MB * MB
    assert counters["lab.largepages"] == WINDOWS_MB * MB  # every 2 MB region is large-backed
    assert counters["mem.shared"] == counters["mem.zero"] == 0  # its zeroed memory too
    assert _host(sim, "lab.largepages") == counters["lab.largepages"]
    assert sim.esxtop()["LPAGE"]["backed"] == WINDOWS_MB
    assert sim.esxtop()["vms"][0]["large"] == WINDOWS_MB
    sim.audit()


def test_the_same_vm_on_a_software_mmu_host_shares_its_zero_pages_from_the_start():
    sim, (vm,) = _windows_host(hardware_mmu=False)
    sim.step(900)
    counters = sim.vm_counters(vm)
    assert counters["lab.largepages"] == 0
    assert counters["mem.zero"] > 10 * counters["mem.granted"] // 100  # a quarter scanned


def test_sharing_appears_quickly_once_free_memory_falls_below_four_times_min_free():
    sim, _ = _windows_host(vms=2)  # 2 x 1 GB: still above 4x minFree
    assert sim.esxtop()["PMEM"]["free"] > 4 * sim.esxtop()["PMEM"]["minfree"]
    assert _host(sim, "mem.shared") < _host(sim, "mem.granted") // 100
    assert _host(sim, "lab.largepages") == 2 * WINDOWS_MB * MB
    add_vm(sim, "win2", WINDOWS_MB, 2, guest_os="windows")
    sim.step(BOOTED_S)  # the third boots: free memory falls below 4x minFree
    assert _host(sim, "lab.largepages") < 2 * WINDOWS_MB * MB  # broken, at 128 MB/s
    assert _host(sim, "mem.shared") > _host(sim, "mem.granted") // 2  # zero pages, mostly
    assert _host(sim, "mem.zero") > _host(sim, "mem.granted") // 2
    assert sim.esxtop()["PMEM"]["state"] == "high"  # no balloon, no swap needed
    assert _host(sim, "mem.swapped") == _host(sim, "mem.vmmemctl") == 0
    sim.audit()


def test_broken_large_pages_share_at_once_through_the_hints_the_scanner_left():
    sim, (vm,) = _windows_host()
    software, (same_vm,) = _windows_host(hardware_mmu=False)
    for each in (sim, software):
        each.share_scan_full()  # every page hashed once: on EPT one hint per content, none shared
    assert sim.vm_counters(vm)["mem.shared"] == 0
    sim.set_settings(**{"Mem.AllocGuestLargePage": 0})  # breaks them all, no time passes
    counters = sim.vm_counters(vm)
    assert counters["lab.largepages"] == 0
    assert counters["mem.zero"] > counters["mem.granted"] // 2
    names = ("mem.granted", "mem.shared", "mem.zero", "mem.consumed")
    expected = software.vm_counters(same_vm)
    assert {name: counters[name] for name in names} == {name: expected[name] for name in names}
    sim.audit()


def test_setting_zero_on_an_ept_host_shares_like_a_software_mmu_host():
    ept, (ept_vm,) = _windows_host(large=0)
    software, (software_vm,) = _windows_host(hardware_mmu=False)
    for sim in (ept, software):
        add_vm(sim, "web", 128, 2, workload="webserver")
        sim.step(600)
    names = ("mem.granted", "mem.shared", "mem.zero", "mem.consumed", "lab.largepages")
    for first, second in ((ept_vm, software_vm), (ept_vm + 1, software_vm + 1)):
        ept_counters, software_counters = ept.vm_counters(first), software.vm_counters(second)
        assert {name: ept_counters[name] for name in names} == {
            name: software_counters[name] for name in names
        }
    assert _host(ept, "lab.largepages") == 0


def test_software_mmu_vms_never_get_large_pages_on_an_ept_host():
    sim = make_host(HOST_MB, seed=3)
    software = add_vm(sim, "shadow", 256, 2, workload="database", mmu="software")
    hardware = add_vm(sim, "ept", 256, 2, workload="database")
    sim.step(600)
    assert sim.vm_counters(software)["lab.largepages"] == 0
    assert sim.vm_counters(hardware)["lab.largepages"] > 0
    sim.set_vm(hardware, mmu="software")  # takes effect at once: its large pages are broken
    assert sim.vm_counters(hardware)["lab.largepages"] == 0
    sim.step(600)
    assert _host(sim, "lab.largepages") == 0
    sim.audit()


def test_large_pages_are_broken_before_any_page_is_ballooned_swapped_or_compressed():
    sim, (vm,) = _windows_host()
    assert sim.vm_counters(vm)["lab.largepages"] == WINDOWS_MB * MB
    sim.set_vm(vm, limit_mb=64)  # a limit is enforced on an idle host: balloon and swap
    for _ in range(6):
        sim.step(20)
        sim.audit()  # a large page is 512 mapped frames: never one of them reclaimed
        assert_counter_invariants(sim)
    counters = sim.vm_counters(vm)
    reclaimed = counters["mem.vmmemctl"] + counters["mem.swapped"] + counters["mem.compressed"]
    assert reclaimed >= (WINDOWS_MB - 64) * MB * 9 // 10
    assert counters["lab.largepages"] <= 64 * MB
    held = sim.memory_map(vm, cells=WINDOWS_MB // 2)["cells"]  # one cell per 2 MB region
    for cell in held:
        counts = cell["counts"]
        assert counts["large"] in (0, cell["pages"])
        if counts["large"]:
            assert counts["ballooned"] == counts["swapped"] == counts["compressed"] == 0


def test_the_memory_map_shows_the_large_backed_pages():
    sim = make_host(HOST_MB, seed=3)
    vm = add_vm(sim, "db", 256, 2, workload="database")
    boot(sim, 300)
    memory_map = sim.memory_map(vm, cells=64)
    totals = memory_map["totals"]
    counters = sim.vm_counters(vm)
    assert totals["large"] * 4 == counters["lab.largepages"] > 0
    mapped = sum(totals[state] for state in ("guest_free", "private", "shared", "zero", "large"))
    assert mapped * 4 == counters["mem.granted"]


def _assert_large_frames_are_some_of_the_vms_frames(mapped: dict) -> None:
    for cell in mapped["cells"]:
        assert sum(cell["counts"].values()) == cell["frames"]  # no category of their own
        assert 0 <= cell["large"] <= sum(cell["counts"][vm] for vm in mapped["vms"])
    assert sum(mapped["totals"].values()) == mapped["frames"]
    assert sum(cell["large"] for cell in mapped["cells"]) == mapped["large"]


def test_the_host_map_shows_the_frames_of_large_pages_until_memory_runs_short():
    sim, vms = _windows_host(vms=2)
    backed = sim.host_memory_map(cells=255)  # runs of unequal length
    for vm in vms:
        assert sim.vm_counters(vm)["lab.largepages"] == WINDOWS_MB * MB
    assert backed["large"] * 4 == _host(sim, "lab.largepages")  # 512 frames per 2 MB page
    assert not backed["sampled"]
    _assert_large_frames_are_some_of_the_vms_frames(backed)
    add_vm(sim, "win2", WINDOWS_MB, 2, guest_os="windows")
    sim.step(BOOTED_S)  # below 4x minFree: the host breaks large pages, the pages share
    broken = sim.host_memory_map(cells=256)
    assert broken["large"] * 4 == _host(sim, "lab.largepages")
    assert broken["large"] < backed["large"]
    assert broken["totals"]["shared"] > backed["totals"]["shared"]
    _assert_large_frames_are_some_of_the_vms_frames(broken)


def test_a_sampled_host_map_estimates_the_frames_of_large_pages(monkeypatch):
    sim, _ = _windows_host(vms=2)
    exact = sim.host_memory_map(cells=64)["large"]
    assert exact * 4 == _host(sim, "lab.largepages") > 0
    monkeypatch.setattr(memory_map_module, "EXACT_FRAMES", 1024)
    sampled = sim.host_memory_map(cells=64)
    assert sampled["sampled"]
    assert sampled["large"] == pytest.approx(exact, rel=0.1)
    _assert_large_frames_are_some_of_the_vms_frames(sampled)
    sim.set_settings(**{"Mem.AllocGuestLargePage": 0})  # breaks them all at once
    assert sim.host_memory_map(cells=64)["large"] == 0


def test_mmu_overhead_of_a_tlb_miss_heavy_workload_is_lower_with_large_pages():
    overhead = {}
    for large in (1, 0):
        sim = make_host(HOST_MB, seed=3, **{LARGE: large})
        vm = add_vm(sim, "db", 512, 2, workload="database")
        sim.step(600)
        counters = sim.vm_counters(vm)
        overhead[large] = counters["lab.mmu.overhead"]
        assert counters["lab.tlb.walkrefs"] == (19 if large else 24)
        assert sim.mmu(vm)["current"]["overhead_percent"] == counters["lab.mmu.overhead"]
    assert 0 < overhead[1] < overhead[0] * 0.8


def test_the_snapshot_carries_the_large_pages_and_refuses_older_versions():
    sim, (vm, _) = _windows_host(vms=2)
    add_vm(sim, "win2", WINDOWS_MB, 2, guest_os="windows")
    sim.step(40)  # some large pages broken, some not
    assert 0 < _host(sim, "lab.largepages") < 3 * WINDOWS_MB * MB
    restored = HostSim.restore(sim.snapshot())
    restored.audit()
    assert restored.host_counters() == sim.host_counters()
    assert restored.memory_map(vm) == sim.memory_map(vm)
    for copy in (sim, restored):
        copy.step(120)
    assert restored.host_counters() == sim.host_counters()
    assert restored.esxtop() == sim.esxtop()

    older = sim.snapshot().replace(b'"version":4', b'"version":3', 1)
    with pytest.raises(EngineError, match="version 3 cannot be restored.*large pages in 4"):
        HostSim.restore(older)


def test_the_books_close_under_churn_with_large_pages_breaking_and_forming():
    sim = make_host(1024, seed=5, Mem_ShareForceSalting=0)
    web = add_vm(sim, "web", 256, 2, workload="webserver")
    batch = add_vm(sim, "batch", 256, 2, workload="batch")
    win = add_vm(sim, "win", 384, 2, guest_os="windows")
    seen_large = seen_both = False
    for tick in range(30):
        sim.step(20)
        if tick % 5 == 2:
            sim.guest_allocate(web, 16)
            sim.guest_write(batch, 0.5)
            sim.guest_free(web, 8)
        if tick == 12:
            sim.set_settings(**{"Mem.AllocGuestLargePage": 0})
        if tick == 18:
            sim.set_settings(**{"Mem.AllocGuestLargePage": 1})
            sim.power_off(win)
        large = _host(sim, "lab.largepages")
        seen_large |= large > 0
        seen_both |= large > 0 and _host(sim, "mem.shared") > 0
        if tick % 3 == 0:  # audit is O(memory)
            sim.audit()
        assert_counter_invariants(sim)
    assert seen_large and seen_both


@pytest.mark.parametrize("value", [2, -1, "x", 0.5, True])
def test_mem_alloc_guest_large_page_is_zero_or_one(value):
    with pytest.raises(EngineError, match="Mem.AllocGuestLargePage"):
        HostSim(1024, 8000, settings={"Mem.AllocGuestLargePage": value})
    sim = make_host()
    with pytest.raises(EngineError, match="Mem.AllocGuestLargePage"):
        sim.set_settings(**{"Mem.AllocGuestLargePage": value})
    assert sim.settings["Mem.AllocGuestLargePage"] == 1
    sim.set_settings(**{"Mem.AllocGuestLargePage": 0})
    assert sim.settings["Mem.AllocGuestLargePage"] == 0
