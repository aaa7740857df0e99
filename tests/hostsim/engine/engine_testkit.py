"""Helpers for the engine tests: small seeded hosts, and the counter invariants every tick must
hold."""

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
    """DESIGN.md 4 and 4b: what every tick must hold, read through the public counters only."""
    host = sim.host_counters()
    running = [vm for vm in sim.vm_ids() if sim.is_powered_on(vm)]
    vm_held = 0  # what VMs cost the host: consumed, overhead and compression caches
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
        # Each guest page is in one state only: mapped, ballooned, swapped, compressed, untouched.
        held = (
            counters["mem.granted"]
            + counters["mem.vmmemctl"]
            + counters["mem.swapped"]
            + counters["mem.compressed"]
        )
        assert held <= configured, (vm, counters)
        assert 0 <= counters["mem.zipSaved"] <= counters["mem.compressed"]
        assert 0 <= counters["mem.active"] <= configured
        assert 0 <= counters["mem.latency"] <= 10_000 and 0 <= counters["mem.usage"] <= 10_000
        cache = counters["mem.compressed"] - counters["mem.zipSaved"]
        vm_held += counters["mem.consumed"] + counters["mem.overhead"] + cache
        if vm not in running:
            assert all(value == 0 for value in counters.values())
        else:
            view = sim.guest_view(vm)
            assert sum(view["held"].values()) == view["used"] == counters["lab.guest.used"]
            assert view["held"]["ballooned"] == counters["mem.vmmemctl"]
    assert host["mem.sharedcommon"] <= host["mem.shared"]
    assert host["lab.pshare.saving"] == host["mem.shared"] - host["mem.sharedcommon"] >= 0
    assert abs(vm_held + host["mem.sysUsage"] - host["mem.consumed"]) <= max(1, len(running))
    assert host["mem.consumed"] <= sim.memory_mb * MB
    assert host["mem.totalCapacity"] < sim.memory_mb
    assert 0 <= host["mem.state"] <= 4
    for name in ("granted", "shared", "vmmemctl", "swapped", "compressed"):
        assert host[f"mem.{name}"] == sum(sim.vm_counters(vm)[f"mem.{name}"] for vm in running)
    pmem = sim.esxtop()["PMEM"]
    # esxtop's free is total minus what it shows in use: check both against the host's counters.
    assert pmem["total"] == sim.memory_mb
    assert abs(pmem["vmk"] + pmem["other"] - host["mem.consumed"] / 1024) <= 2, (pmem, host)
    assert abs(pmem["free"] - (sim.memory_mb - host["mem.consumed"] / 1024)) <= 2, (pmem, host)
    assert pmem["free"] >= -1
