"""The lab's MMU overhead counter: software (shadow page tables) against hardware assist
(EPT/RVI)."""

import pytest
from engine_testkit import add_vm, make_host

from hostsim.engine import EngineError


def _mmu_overhead(workload: str, mmu: str, hardware_mmu: bool = True) -> float:
    sim = make_host(hardware_mmu=hardware_mmu)
    vm = add_vm(sim, memory_mb=256, workload=workload, mmu=mmu)
    sim.step(120)  # booted and running its workload
    return sim.vm_counters(vm)["lab.mmu.overhead"]


def test_the_webserver_loses_less_to_the_mmu_with_hardware_assist():
    assert _mmu_overhead("webserver", "hardware") < _mmu_overhead("webserver", "software")


def test_the_database_loses_less_to_the_mmu_in_software_mode():
    assert _mmu_overhead("database", "software") < _mmu_overhead("database", "hardware")


def test_hardware_assist_speeds_the_webserver_up_by_about_48_percent():
    # VMware, "Performance Evaluation of Intel EPT Hardware Assist": up to 48% for MMU-heavy work.
    software, hardware = (
        _mmu_overhead("webserver", "software"),
        _mmu_overhead("webserver", "hardware"),
    )
    assert (100 - hardware) / (100 - software) == pytest.approx(1.48, abs=0.02)


def test_automatic_uses_hardware_assist_only_where_the_host_has_it():
    assert _mmu_overhead("webserver", "automatic") == _mmu_overhead("webserver", "hardware")
    assert _mmu_overhead("webserver", "automatic", hardware_mmu=False) == _mmu_overhead(
        "webserver", "software"
    )


def test_hardware_mmu_is_refused_on_a_host_without_it():
    sim = make_host(hardware_mmu=False)
    vm = add_vm(sim, mmu="software")
    state = sim.snapshot()
    with pytest.raises(EngineError, match="hardware MMU"):
        add_vm(sim, "hw", mmu="hardware")
    with pytest.raises(EngineError, match="hardware MMU"):
        sim.set_vm(vm, mmu="hardware")
    assert sim.snapshot() == state


def test_changing_the_mmu_mode_of_a_running_vm_shows_at_the_next_sample():
    sim = make_host()
    vm = add_vm(sim, memory_mb=256, workload="webserver", mmu="software")
    sim.step(120)
    software = sim.vm_counters(vm)["lab.mmu.overhead"]
    sim.set_vm(vm, mmu="hardware")
    sim.step(20)
    assert sim.vm_counters(vm)["lab.mmu.overhead"] < software / 5


def test_an_idle_vm_loses_almost_nothing_to_the_mmu_either_way():
    for mmu in ("software", "hardware"):
        assert _mmu_overhead("idle", mmu) < 1.0
