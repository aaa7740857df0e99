"""Helpers for the engine tests: small seeded hosts, and the counter invariants every tick must hold."""

from hostsim.engine import HostSim, VMConfig

MB = 1024  # KB per MB: counters are in KB


def make_host(memory_mb=1024, cpu_mhz=8000, hardware_mmu=True, seed=0, **settings) -> HostSim:
    """A host; keyword settings use underscores for dots: Mem_ShareScanTime=10."""
    return HostSim(
        memory_mb,
        cpu_mhz,
        hardware_mmu=hardware_mmu,
        seed=seed,
        settings={name.replace("_", "."): value for name, value in settings.items()},
    )


def add_vm(
    sim: HostSim,
    name="vm",
    memory_mb=128,
    vcpus=1,
    guest_os="linux",
    workload="idle",
    on=True,
    **config,
) -> int:
    vm = sim.add_vm(VMConfig(name, memory_mb, vcpus, guest_os, workload, **config))
    if on:
        sim.power_on(vm)
    return vm


def boot(sim: HostSim, seconds=60) -> None:
    """Long enough for both guest OS presets to finish booting."""
    sim.step(seconds)


def assert_counter_invariants(sim: HostSim) -> None:
    """DESIGN.md 4: what every tick must hold, read through the public counters only."""
    host = sim.host_counters()
    running = [vm for vm in sim.vm_ids() if sim.is_powered_on(vm)]
    vm_consumed_and_overhead = 0
    for vm in sim.vm_ids():
        counters = sim.vm_counters(vm)
        configured = sim.vm_config(vm).memory_mb * MB
        assert 0 <= counters["mem.consumed"] <= counters["mem.granted"] <= configured, (
            vm,
            counters,
        )
        assert 0 <= counters["mem.zero"] <= counters["mem.shared"] <= counters["mem.granted"], (
            vm,
            counters,
        )
        assert 0 <= counters["mem.active"] <= configured
        vm_consumed_and_overhead += counters["mem.consumed"] + counters["mem.overhead"]
        if vm not in running:
            assert (
                counters["mem.granted"] == counters["mem.consumed"] == counters["mem.overhead"] == 0
            )
    assert host["mem.sharedcommon"] <= host["mem.shared"]
    assert host["lab.pshare.saving"] == host["mem.shared"] - host["mem.sharedcommon"] >= 0
    assert abs(vm_consumed_and_overhead + host["mem.sysUsage"] - host["mem.consumed"]) <= max(
        1, len(running)
    )
    assert host["mem.consumed"] <= host["mem.totalCapacity"]
    assert host["mem.granted"] == sum(sim.vm_counters(vm)["mem.granted"] for vm in running)
    assert host["mem.shared"] == sum(sim.vm_counters(vm)["mem.shared"] for vm in running)
    pmem = sim.esxtop()["PMEM"]
    assert pmem["total"] == pmem["vmk"] + pmem["other"] + pmem["free"]
    assert pmem["free"] >= -1
