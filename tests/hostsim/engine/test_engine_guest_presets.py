"""Guest OS presets by version and the content model (issue 13): what VMs have in common.

Every host here has a software MMU (4 KB pages only: large pages would hide sharing) and salting
0 unless said, and is scanned in full once before it is read, so what is shared is what the
content model makes identical.
"""

import pytest
from engine_testkit import MB, assert_counter_invariants

from hostsim.engine import GUEST_OS_PRESETS, EngineError, HostSim, VMConfig
from hostsim.engine.presets import PROCESS_MAX_FRACTION, REFERENCE_VM_MB, WEBSERVER

PAGES_PER_MB = 256
SIX_HOURS_S = 6 * 3600


def _host(salting=0) -> HostSim:
    return HostSim(
        8192, 8000, hardware_mmu=False, settings={"Mem.ShareForceSalting": salting}, seed=1
    )


def _run(vms, memory_mb=128, seconds=600, salting=0) -> tuple[HostSim, list[int]]:
    """Power on (guest OS, workload) pairs, run them `seconds` without scanning, scan all once."""
    sim = _host(salting)
    ids = [
        sim.add_vm(VMConfig(f"vm-{index}", memory_mb, 1, guest_os, workload))
        for index, (guest_os, workload) in enumerate(vms)
    ]
    for vm in ids:
        sim.power_on(vm)
    sim.step(seconds, scan=False)
    sim.share_scan_full()
    assert_counter_invariants(sim)
    return sim, ids


def _non_zero_shared_mb(sim: HostSim) -> float:
    host = sim.host_counters()
    return (host["mem.shared"] - host["mem.zero"]) / MB


def _shared_pages_of(sim: HostSim, vm: int, owner: str) -> tuple[int, int]:
    """Pages of `owner` ("kernel", "page cache") mapped to a shared frame, and all its pages:
    the memory map with one cell per guest page.
    """
    cells = sim.memory_map(vm, cells=sim.vm_config(vm).memory_mb * PAGES_PER_MB)["cells"]
    owned = [cell for cell in cells if cell["owner"] == owner]
    return sum(cell["counts"]["shared"] + cell["counts"]["zero"] for cell in owned), len(owned)


@pytest.mark.parametrize(
    ("same", "other"), [("rhel9", "ubuntu2204"), ("win2019", "win2022"), ("rhel9", "win2019")]
)
def test_vms_of_one_os_version_share_much_more_than_vms_of_different_versions(same, other):
    alike, _ = _run([(same, "idle"), (same, "idle")])
    different, _ = _run([(same, "idle"), (other, "idle")])
    # Zero pages aside (a Windows guest zeroes its memory whatever its version): kernel code,
    # libraries and the files read at boot are the version's own.
    assert _non_zero_shared_mb(alike) > 30
    assert _non_zero_shared_mb(different) < _non_zero_shared_mb(alike) / 10


def test_the_old_names_are_aliases_that_share_with_the_version_they_stand_for():
    alias, (linux, _) = _run([("linux", "idle"), ("rhel9", "idle")])
    version, _ = _run([("rhel9", "idle"), ("rhel9", "idle")])
    saving = "lab.pshare.saving"
    assert alias.host_counters()[saving] == version.host_counters()[saving]
    assert alias.guest_view(linux)["os"] == "linux"
    windows, _ = _run([("windows", "idle"), ("win2019", "idle")])
    versions, _ = _run([("win2019", "idle"), ("win2019", "idle")])
    assert _non_zero_shared_mb(windows) == _non_zero_shared_mb(versions) > 30


def test_an_unknown_guest_os_is_refused_with_the_known_names():
    with pytest.raises(EngineError, match="Unknown guest_os 'rhel8'.*rhel9, ubuntu2204, win2019"):
        VMConfig("vm", 128, 1, "rhel8", "idle")
    assert list(GUEST_OS_PRESETS)[:2] == ["linux", "windows"]


def test_a_vms_kernel_code_stays_shareable_over_six_hours_of_idling():
    sim, (vm, _) = _run([("rhel9", "idle"), ("rhel9", "idle")], memory_mb=16, seconds=60)
    shared_at_boot, kernel = _shared_pages_of(sim, vm, "kernel")
    sim.step(SIX_HOURS_S, scan=False)
    sim.share_scan_full()
    shared_later, _ = _shared_pages_of(sim, vm, "kernel")
    code = round(kernel * GUEST_OS_PRESETS["rhel9"].kernel_code_fraction)
    # Kernel data churns (timers, logging, the idle workload's writes); the code does not.
    assert shared_at_boot > code
    assert code <= shared_later < shared_at_boot


def test_the_page_cache_holds_what_the_vm_runs():
    same, (vm, _) = _run([("rhel9", "webserver"), ("rhel9", "webserver")], 16, seconds=1200)
    other, (web, _) = _run([("rhel9", "webserver"), ("rhel9", "database")], 16, seconds=1200)
    shared_same, cached = _shared_pages_of(same, vm, "page cache")
    shared_other, _ = _shared_pages_of(other, web, "page cache")
    # Both cache the libraries and boot files of the version; only the same software caches
    # the same files after boot.
    assert shared_same > shared_other + cached / 10


def test_some_non_zero_pages_repeat_inside_one_vm():
    sim, (vm,) = _run([("rhel9", "idle")], salting=2)
    counters = sim.vm_counters(vm)
    assert counters["mem.shared"] - counters["mem.zero"] > 0
    assert counters["mem.zero"] > 0


@pytest.mark.parametrize("memory_mb", [40, 128])
def test_workload_sizes_and_rates_scale_with_the_vms_memory(memory_mb):
    sim = _host()
    small = sim.add_vm(VMConfig("small", memory_mb, 1, "rhel9", "webserver"))
    reference = sim.add_vm(VMConfig("reference", REFERENCE_VM_MB, 1, "rhel9", "webserver"))
    for vm in (small, reference):
        sim.power_on(vm)
    sim.step(60, scan=False)

    def image_pages(vm: int) -> int:
        httpd = next(process for process in sim.processes(vm) if process["name"] == "httpd")
        return next(area["pages"] for area in httpd["areas"] if area["name"] == "image")

    assert image_pages(reference) == round(WEBSERVER.application_image_mb * PAGES_PER_MB)
    assert image_pages(small) == int(PROCESS_MAX_FRACTION * memory_mb * PAGES_PER_MB)

    # The web server fills its cache at a rate that follows the VM's memory: the same share of
    # each VM after the same time.
    def cache_share(vm: int) -> float:
        httpd = next(process for process in sim.processes(vm) if process["name"] == "httpd")
        cache = next(area for area in httpd["areas"] if area["name"] == "cache")
        assert cache["resident"] < cache["pages"]  # still filling
        return cache["resident"] / (sim.vm_config(vm).memory_mb * PAGES_PER_MB)

    assert cache_share(small) == pytest.approx(cache_share(reference), rel=0.1)
