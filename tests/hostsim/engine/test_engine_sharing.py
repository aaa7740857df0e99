"""Transparent page sharing: what gets shared with what, how fast, and what breaks it."""

import engine_testkit
import numpy as np
import pytest
from engine_testkit import MB, add_vm, assert_counter_invariants, boot

from hostsim.engine import EngineError
from hostsim.engine.content import is_unique
from hostsim.engine.machine import FRAME, LISTED, RUN
from hostsim.engine.sharing import ScanCursor


# These tests are about page sharing itself: their hosts back guest memory with 4 KB pages only
# (large pages, which are never shared, are test_engine_large_pages' subject).
def make_host(**options):
    return engine_testkit.make_host(Mem_AllocGuestLargePage=0, **options)


@pytest.fixture
def host():
    return make_host()


def _host_saving_per_vm(vms: int) -> float:
    sim = make_host(memory_mb=2048, Mem_ShareForceSalting=0)
    for index in range(vms):
        add_vm(sim, f"web{index}", memory_mb=192, workload="webserver")
    sim.step(300)
    sim.share_scan_full()
    assert_counter_invariants(sim)
    return sim.host_counters()["lab.pshare.saving"] / vms


def test_identical_vms_share_and_the_saving_per_vm_grows_with_their_number():
    alone, pair, four = _host_saving_per_vm(1), _host_saving_per_vm(2), _host_saving_per_vm(4)
    assert 0 < alone < pair < four
    assert four > 2 * alone  # most of it is the OS and application images they have in common


def _pair(salting: int, salts=(None, None)):
    sim = make_host(memory_mb=1024, Mem_ShareForceSalting=salting)
    a = add_vm(sim, "a", memory_mb=192, workload="webserver", salt=salts[0])
    b = add_vm(sim, "b", memory_mb=192, workload="webserver", salt=salts[1])
    sim.step(300)
    sim.share_scan_full()
    return sim, a, b


def _shares_across(sim, a, b) -> bool:
    """Do a and b share frames? Then powering b off changes what a is charged for."""
    before = sim.vm_counters(a)
    sim.power_off(b)
    after = sim.vm_counters(a)
    return (after["mem.consumed"], after["mem.shared"]) != (
        before["mem.consumed"],
        before["mem.shared"],
    )


def test_with_salting_off_identical_vms_share_across_vms():
    sim, a, b = _pair(salting=0)
    assert _shares_across(sim, a, b)


def test_default_salting_confines_sharing_to_each_vm():
    sim, a, b = _pair(salting=2)
    assert sim.vm_counters(a)["mem.shared"] > 0  # inside the VM: its zero pages and repeats
    assert not _shares_across(sim, a, b)


def test_default_salting_lets_vms_with_the_same_salt_share():
    sim, a, b = _pair(salting=2, salts=("team", "team"))
    assert _shares_across(sim, a, b)


def test_salting_one_shares_among_unsalted_vms_but_not_with_a_salted_one():
    sim, a, b = _pair(salting=1)
    assert _shares_across(sim, a, b)
    sim, a, b = _pair(salting=1, salts=(None, "secret"))
    assert not _shares_across(sim, a, b)


def test_salting_changes_reach_a_running_vm_at_its_next_power_on():
    sim, a, b = _pair(salting=2)
    sim.set_settings(**{"Mem.ShareForceSalting": 0})
    sim.share_scan_full()
    assert not _shares_across(sim, a, b)
    sim.power_off(a)
    sim.power_on(a)
    sim.power_on(b)
    sim.step(300)
    sim.share_scan_full()
    assert _shares_across(sim, a, b)


def test_a_vm_with_page_sharing_off_never_shares(host):
    off = add_vm(host, "off", memory_mb=256, guest_os="windows", pshare=False)
    on = add_vm(host, "on", memory_mb=256, guest_os="windows")
    host.step(600)
    host.share_scan_full()
    assert host.vm_counters(off)["mem.shared"] == 0
    assert host.vm_counters(off)["mem.consumed"] == host.vm_counters(off)["mem.granted"]
    assert host.vm_counters(on)["mem.shared"] > 100 * MB


def test_turning_page_sharing_off_gives_shared_pages_private_copies(host):
    vm = add_vm(host, memory_mb=256, guest_os="windows")
    boot(host)
    host.share_scan_full()
    shared = host.vm_counters(vm)
    assert shared["mem.shared"] > 100 * MB
    host.set_vm(vm, pshare=False)
    private = host.vm_counters(vm)
    assert private["mem.shared"] == private["mem.zero"] == 0
    assert private["mem.consumed"] == private["mem.granted"] == shared["mem.granted"]
    host.share_scan_full()
    assert host.vm_counters(vm)["mem.shared"] == 0
    host.set_vm(vm, pshare=True)
    host.share_scan_full()
    assert host.vm_counters(vm)["mem.shared"] > 100 * MB
    host.audit()


def _full_host_with_a_shared_windows_vm(**filler):
    sim = make_host(memory_mb=384)
    vm = add_vm(sim, memory_mb=256, guest_os="windows")
    other = add_vm(sim, "filler", memory_mb=256, workload="toucher", **filler)
    boot(sim)
    sim.share_scan_full()
    sim.guest_allocate(other, 256)  # takes the frames sharing freed
    return sim, vm, other


def test_turning_page_sharing_off_on_a_full_host_swaps_others_for_the_copies():
    sim, vm, filler = _full_host_with_a_shared_windows_vm()
    sim.set_vm(vm, pshare=False)
    assert sim.vm_counters(vm)["mem.shared"] == 0
    reclaimed = sim.vm_counters(filler)
    assert reclaimed["mem.swapped"] + reclaimed["mem.compressed"] > 0
    assert_counter_invariants(sim)
    sim.audit()


def test_turning_page_sharing_off_is_refused_when_reservations_leave_no_room_for_copies():
    sim, vm, _ = _full_host_with_a_shared_windows_vm(reservation_mb=256)
    state = sim.snapshot()
    with pytest.raises(EngineError):
        sim.set_vm(vm, pshare=False)
    assert sim.snapshot() == state


def _shared_after(scan_time_minutes: int, seconds: int) -> int:
    sim = make_host(Mem_ShareScanTime=scan_time_minutes)
    vm = add_vm(sim, memory_mb=256, guest_os="windows")
    sim.step(seconds)
    return sim.vm_counters(vm)["mem.shared"]


def test_a_shorter_share_scan_time_finds_sharing_sooner():
    quick, default = _shared_after(10, 600), _shared_after(60, 600)
    assert default > 0
    assert quick > 3 * default


def test_share_scan_ghz_zero_turns_the_scanner_off():
    sim = make_host(Mem_ShareScanGHz=0, Mem_ShareScanTime=10)
    vm = add_vm(sim, memory_mb=256, guest_os="windows")
    sim.step(1200)
    assert sim.vm_counters(vm)["mem.shared"] == 0
    sim.set_settings(**{"Mem.ShareScanGHz": 4})  # takes effect from the next step
    sim.step(600)
    assert sim.vm_counters(vm)["mem.shared"] > 0


def test_share_rate_max_caps_what_one_vm_gets_scanned():
    def shared(rate_max):
        sim = make_host(Mem_ShareScanTime=10, Mem_ShareRateMax=rate_max)
        vm = add_vm(sim, memory_mb=256, guest_os="windows")
        sim.step(300)
        return sim.vm_counters(vm)["mem.shared"]

    assert shared(10) * 4 < shared(1024)


def test_a_host_with_less_cpu_scans_less_when_share_scan_ghz_binds():
    def shared(cpu_mhz):
        sim = make_host(cpu_mhz=cpu_mhz, Mem_ShareScanTime=10, Mem_ShareScanGHz=1)
        vms = [add_vm(sim, f"w{i}", memory_mb=256, guest_os="windows") for i in range(2)]
        sim.step(300)
        return sum(sim.vm_counters(vm)["mem.shared"] for vm in vms)

    assert shared(100) * 4 < shared(8000)


def test_the_scan_can_run_as_its_own_task():
    together, apart = make_host(), make_host()
    for sim in (together, apart):
        add_vm(sim, memory_mb=256, guest_os="windows")
    for _ in range(30):
        together.step(20)
        apart.step(20, scan=False)
        apart.share_scan(20)
    assert together.host_counters() == apart.host_counters()
    assert apart.clock == together.clock == 600


def test_writes_break_sharing(host):
    vm = add_vm(host, workload="toucher")
    boot(host)
    host.guest_allocate(vm, 64)  # fresh memory is zero-filled ...
    host.share_scan_full()  # ... so all of it ends up on the zero page
    shared = host.vm_counters(vm)
    assert shared["mem.shared"] >= 64 * MB
    assert host.guest_write(vm, 0.5) == 32
    written = host.vm_counters(vm)
    assert written["mem.shared"] == shared["mem.shared"] - 32 * MB
    assert written["mem.consumed"] == shared["mem.consumed"] + 32 * MB
    assert written["mem.granted"] == shared["mem.granted"]
    host.share_scan_full()  # the new data is unique: nothing to share again
    assert host.vm_counters(vm)["mem.shared"] == written["mem.shared"]


def test_zero_pages_count_as_zero_and_as_shared(host):
    vm = add_vm(host, memory_mb=256, guest_os="windows")
    boot(host)
    host.share_scan_full()
    counters = host.vm_counters(vm)
    assert 0 < counters["mem.zero"] <= counters["mem.shared"]
    assert host.host_counters()["mem.zero"] == counters["mem.zero"]


def test_a_shared_frame_is_charged_in_equal_parts_to_the_vms_that_map_it():
    sim = make_host(Mem_ShareForceSalting=0)
    a = add_vm(sim, "a", workload="toucher")
    b = add_vm(sim, "b", workload="toucher")
    boot(sim)
    sim.share_scan_full()
    before = {vm: sim.vm_counters(vm) for vm in (a, b)}
    sim.guest_allocate(a, 16)
    sim.guest_allocate(b, 16)
    sim.share_scan_full()  # 8192 new zero pages join the host's one zero frame
    for vm in (a, b):
        after = sim.vm_counters(vm)
        assert after["mem.granted"] - before[vm]["mem.granted"] == 16 * MB
        # Each VM is charged only a tiny share of the one zero frame for its 4096 new pages.
        assert abs(after["mem.consumed"] - before[vm]["mem.consumed"]) <= 4
    assert_counter_invariants(sim)
    sim.audit()


def test_esxtop_shows_the_sharing_summary_and_a_row_per_running_vm(host):
    a = add_vm(host, "a", memory_mb=256, guest_os="windows")
    add_vm(host, "b", on=False)
    boot(host)
    host.share_scan_full()
    panel = host.esxtop()
    counters = host.host_counters()
    assert panel["PSHARE"]["shared"] == round(counters["mem.shared"] / MB)
    assert panel["PSHARE"]["common"] == round(counters["mem.sharedcommon"] / MB)
    assert (
        abs(panel["PSHARE"]["saving"] - (panel["PSHARE"]["shared"] - panel["PSHARE"]["common"]))
        <= 1
    )
    assert panel["PMEM"]["total"] == 1024
    (row,) = panel["vms"]
    assert row["id"] == a and row["name"] == "a" and row["memsz"] == 256
    assert (
        row["grant"] == 256 and 0 < row["zero"] <= row["shared"] and row["consumed"] < row["grant"]
    )
    assert set(row) >= {"memsz", "grant", "consumed", "shared", "zero", "overhead"}


def test_a_full_scan_lists_every_page_another_could_match_and_no_page_of_unique_data():
    """Unique data can never be matched: the scanner hashes it and leaves it out of the share
    table (its hint would only take room, and leave again when the page is rewritten)."""
    sim = make_host(memory_mb=1024, Mem_ShareForceSalting=0)
    ids = [add_vm(sim, name, memory_mb=192, workload="webserver") for name in ("a", "b")]
    sim.step(300)
    sim.share_scan_full()
    for vm_id in ids:
        vm = sim._record(vm_id).vm  # the engine's own tables, read directly
        mapped = vm.pmap.compress(vm.pmap >= 0)
        frames = mapped & FRAME
        unique = is_unique(vm.machine.content[frames])
        assert unique.any() and (~unique).any()
        assert not (mapped.compress(unique) >= LISTED).any()
        assert (mapped.compress(~unique) >= LISTED).all()
    sim.audit()


_MIXED = (
    ("linux-a", "linux"),
    ("linux-b", "linux"),
    ("windows-a", "windows"),
    ("windows-b", "windows"),
)


def test_scanning_a_group_domains_members_as_one_batch_counts_as_scanning_them_one_by_one():
    def booted():
        sim = make_host(Mem_ShareForceSalting=0)
        vms = [add_vm(sim, name, memory_mb=256, guest_os=os) for name, os in _MIXED]
        sim.step(120, scan=False)  # the same content in several VMs, none of it scanned yet
        return sim, [sim._record(vm).vm for vm in vms]

    one_by_one, members = booted()
    for vm in members:
        vm.sharing.scan(vm, np.arange(vm.pages, dtype=np.int32))
    as_one, together = booted()
    domain = together[0].sharing
    assert all(vm.sharing is domain for vm in together)
    # Halves of every VM, the second half first: pages of several members with one content meet
    # in the batch, within a member and across members.
    domain.scan_many(
        [(vm, np.arange(vm.pages // 2, vm.pages, dtype=np.int32), None) for vm in together]
        + [(vm, np.arange(vm.pages // 2, dtype=np.int32), None) for vm in together]
    )
    assert as_one.host_counters()["mem.sharedcommon"] > 0
    assert as_one.host_counters() == one_by_one.host_counters()
    for left, right in zip(one_by_one.vm_ids(), as_one.vm_ids(), strict=True):
        assert as_one.vm_counters(right) == one_by_one.vm_counters(left)
    as_one.audit()
    one_by_one.audit()


def test_a_scan_pass_visits_every_page_once_in_runs_spread_over_the_vm():
    pages = 1 << 15
    rng = np.random.default_rng(5)
    cursor = ScanCursor(pages, rng)
    visited = np.concatenate(cursor.take(pages // 3, rng) + cursor.take(pages - pages // 3, rng))
    assert np.array_equal(np.sort(visited), np.arange(pages))
    runs = visited.reshape(-1, RUN)
    assert (np.diff(runs, axis=1) == 1).all() and (runs[:, 0] % RUN == 0).all()
    assert np.count_nonzero(np.diff(runs[:, 0]) != RUN) > 0.9 * runs.shape[0]
    # A cursor saved before runs goes on with its pass page by page.
    state = ScanCursor(pages, rng).to_state()
    del state["run"]
    old = ScanCursor.from_state(state, pages)
    expected = (np.arange(5) * state["stride"] + state["offset"]) % pages
    assert np.array_equal(old.take(5, rng)[0], expected)
