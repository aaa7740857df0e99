"""Same seed, same counters; snapshots restore bit for bit, random generator included."""

import pytest
from engine_testkit import add_vm, make_host

from hostsim.engine import EngineError, HostSim


def _lab(seed: int) -> HostSim:
    sim = make_host(memory_mb=1024, seed=seed, Mem_ShareScanTime=10)
    add_vm(sim, "web", memory_mb=192, workload="webserver")
    add_vm(sim, "db", memory_mb=192, guest_os="windows", workload="database")
    add_vm(sim, "job", memory_mb=128, workload="batch")
    add_vm(sim, "lab", memory_mb=128, workload="toucher")
    return sim


def _play(sim: HostSim, ticks: int) -> list:
    """A scripted session: ticks with guest operations and setting changes in between."""
    seen = []
    lab = sim.vm_ids()[-1]
    for tick in range(ticks):
        if tick % 7 == 3:
            sim.guest_allocate(lab, 8)
        if tick % 11 == 5:
            sim.guest_write(lab, 0.3)
        if tick % 13 == 9:
            sim.guest_free(lab, 4)
        if tick == 17:
            sim.set_settings(**{"Mem.ShareScanTime": 30})
        sim.step(20)
        seen.append((sim.host_counters(), [sim.vm_counters(vm) for vm in sim.vm_ids()]))
    return seen


def test_the_same_seed_gives_the_same_counters():
    assert _play(_lab(seed=7), 30) == _play(_lab(seed=7), 30)


def test_a_different_seed_gives_different_counters():
    assert _play(_lab(seed=7), 30) != _play(_lab(seed=8), 30)


def test_a_restored_snapshot_continues_exactly_like_the_original():
    original = _lab(seed=3)
    _play(original, 25)
    restored = HostSim.restore(original.snapshot())
    assert restored.clock == original.clock
    assert _play(restored, 40) == _play(original, 40)
    assert restored.snapshot() == original.snapshot()
    restored.audit()


def test_a_snapshot_of_a_restored_host_is_the_same_bytes():
    sim = _lab(seed=5)
    _play(sim, 10)
    data = sim.snapshot()
    assert HostSim.restore(data).snapshot() == data


def test_restoring_something_else_is_refused():
    with pytest.raises(EngineError):
        HostSim.restore(b"not a snapshot")
    with pytest.raises(EngineError):
        HostSim.restore(_lab(seed=1).snapshot()[:200])


def test_a_full_scan_on_several_threads_gives_the_same_result_every_time():
    first, second = _lab(seed=9), _lab(seed=9)
    for sim in (first, second):
        _play(sim, 15)
        sim.share_scan_full()
    assert first.snapshot() == second.snapshot()
    first.audit()


def _overcommitted(seed: int) -> HostSim:
    """VMs worth 1.9x a 512 MB host, with a limit, a reservation, custom shares, no balloon
    driver in one, and a resource pool.
    """
    sim = make_host(memory_mb=512, seed=seed, Mem_ShareScanTime=10)
    add_vm(sim, "web", memory_mb=256, workload="webserver")
    db = add_vm(sim, "db", memory_mb=256, guest_os="windows", workload="database", balloon=False)
    add_vm(sim, "job", memory_mb=192, workload="batch", reservation_mb=64, shares=3000)
    add_vm(sim, "lab", memory_mb=256, workload="toucher", limit_mb=160)
    sim.set_resource_tree(
        {
            "name": "root",
            "reservation_mb": 0,
            "limit_mb": -1,
            "shares": None,
            "expandable": False,
            "vms": [],
            "children": [
                {
                    "name": "databases",
                    "reservation_mb": 32,
                    "limit_mb": 400,
                    "shares": 4000,
                    "expandable": True,
                    "vms": [db],
                    "children": [],
                }
            ],
        }
    )
    return sim


def _contended_play(sim: HostSim, ticks: int) -> list:
    seen = []
    lab = sim.vm_ids()[-1]
    for tick in range(ticks):
        if tick % 5 == 1:
            sim.guest_allocate(lab, 40)
            sim.guest_write(lab, 0.5)
        if tick == 7:
            sim.set_settings(**{"Mem.IdleTax": 50, "Mem.MemZipMaxPct": 20})
        if tick == 11:
            sim.set_vm(lab, limit_mb=-1, shares=500)
        sim.step(20)
        seen.append((sim.host_counters(), [sim.vm_counters(vm) for vm in sim.vm_ids()]))
    return seen


def test_an_overcommitted_host_replays_exactly_from_the_same_seed():
    first, second = _contended_play(_overcommitted(4), 30), _contended_play(_overcommitted(4), 30)
    assert first == second
    assert any(host["mem.vmmemctl"] and host["mem.swapped"] for host, _ in first)


def test_a_snapshot_under_contention_restores_balloons_swap_and_compression_bit_for_bit():
    original = _overcommitted(6)
    _contended_play(original, 20)
    host = original.host_counters()
    assert host["mem.vmmemctl"] > 0 and host["mem.swapped"] + host["mem.compressed"] > 0
    data = original.snapshot()
    restored = HostSim.restore(data)
    assert restored.snapshot() == data
    assert restored.resource_tree() == original.resource_tree()
    assert _contended_play(restored, 25) == _contended_play(original, 25)
    assert restored.snapshot() == original.snapshot()
    restored.audit()
