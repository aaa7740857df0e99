"""The engine's interface: inventory, settings, and invalid requests that are refused and change
nothing."""

import pytest
from engine_testkit import MB, add_vm, boot, make_host

from hostsim.engine import GUEST_OS_NAMES, WORKLOAD_NAMES, HostSim, VMConfig


@pytest.fixture
def lab():
    sim = make_host(memory_mb=1024)
    running = add_vm(sim, "running", workload="toucher")
    stopped = add_vm(sim, "stopped", on=False)
    boot(sim)
    sim.guest_allocate(running, 16)
    return sim, running, stopped


def test_the_inventory_reports_vms_their_config_and_power_state(lab):
    sim, running, stopped = lab
    assert sim.vm_ids() == [running, stopped]
    assert sim.vm_config(running) == VMConfig("running", 128, 1, "linux", "toucher")
    config = sim.vm_config(running)
    assert (config.reservation_mb, config.limit_mb, config.shares, config.balloon) == (
        0,
        -1,
        None,
        True,
    )
    assert sim.is_powered_on(running) and not sim.is_powered_on(stopped)
    assert sim.clock == 60
    sim.step(20)
    assert sim.clock == 80


def test_the_presets_are_the_ones_the_lab_offers():
    assert set(GUEST_OS_NAMES) == {"linux", "windows", "rhel9", "ubuntu2204", "win2019", "win2022"}
    assert set(WORKLOAD_NAMES) == {"idle", "webserver", "database", "batch", "spec", "toucher"}


def test_settings_default_like_esxi_and_change_by_their_dotted_names():
    sim = HostSim(1024, 8000)
    assert sim.settings == {
        "Mem.ShareScanTime": 60,
        "Mem.ShareScanGHz": 4,
        "Mem.ShareRateMax": 1024,
        "Mem.ShareForceSalting": 2,
        "Mem.MemMinFreePct": 0,
        "Mem.IdleTax": 75,
        "Mem.CtlMaxPercent": 65,
        "Mem.MemZipEnable": 1,
        "Mem.MemZipMaxPct": 10,
        "Mem.BalancePeriod": 15,
        "Mem.AllocGuestLargePage": 1,
    }
    sim.set_settings(**{"Mem.ShareScanTime": 30, "Mem.ShareForceSalting": 0})
    assert sim.settings["Mem.ShareScanTime"] == 30 and sim.settings["Mem.ShareForceSalting"] == 0
    sim.set_settings(**{"Mem.IdleTax": 0, "Mem.MemZipEnable": 0, "Mem.BalancePeriod": 120})
    assert sim.settings["Mem.IdleTax"] == 0 and sim.settings["Mem.BalancePeriod"] == 120
    configured = HostSim(1024, 8000, settings={"Mem.MemMinFreePct": 50, "Mem.CtlMaxPercent": 75})
    assert configured.settings["Mem.MemMinFreePct"] == 50


def test_a_stopped_vm_can_be_reconfigured_and_removed(lab):
    sim, _, stopped = lab
    sim.set_vm(stopped, memory_mb=256, vcpus=2, guest_os="windows", salt="blue")
    assert sim.vm_config(stopped) == VMConfig("stopped", 256, 2, "windows", "idle", salt="blue")
    sim.remove_vm(stopped)
    assert stopped not in sim.vm_ids()


def test_removing_a_running_vm_powers_it_off_first(lab):
    sim, running, _ = lab
    idle = make_host(memory_mb=1024).host_counters()["mem.consumed"]
    sim.remove_vm(running)
    assert running not in sim.vm_ids()
    assert sim.host_counters()["mem.consumed"] == idle
    sim.audit()


def test_a_running_vm_switches_workload_and_vcpus_on_the_fly(lab):
    sim, running, _ = lab
    overhead = sim.vm_counters(running)["mem.overhead"]
    sim.set_vm(running, workload="webserver", vcpus=4)
    assert sim.vm_counters(running)["mem.overhead"] > overhead
    sim.step(120)
    assert sim.guest_view(running)["workload"] == "webserver"
    assert sim.guest_view(running)["processes"][0]["resident"] > 0


def test_a_new_guest_os_takes_effect_at_the_next_boot(lab):
    sim, running, _ = lab
    sim.set_vm(running, guest_os="windows")
    assert sim.guest_view(running)["os"] == "linux"
    sim.power_off(running)
    sim.power_on(running)
    assert sim.guest_view(running)["os"] == "windows"


def _refusals(sim, running, stopped):
    return {
        "unknown vm": lambda: sim.power_on(999),
        "vm id of the wrong type": lambda: sim.vm_counters("1"),
        "power on twice": lambda: sim.power_on(running),
        "power off twice": lambda: sim.power_off(stopped),
        "negative allocation": lambda: sim.guest_allocate(running, -1),
        "allocation that is not a number": lambda: sim.guest_allocate(running, "10"),
        "negative free": lambda: sim.guest_free(running, -5),
        "write more than everything": lambda: sim.guest_write(running, 1.5),
        "write less than nothing": lambda: sim.guest_write(running, -0.1),
        "write not a number": lambda: sim.guest_write(running, float("nan")),
        "guest of a stopped vm": lambda: sim.guest_write(stopped, 0.5),
        "memory of a running vm": lambda: sim.set_vm(running, memory_mb=256),
        "unknown vm setting": lambda: sim.set_vm(running, colour="red"),
        "unknown guest os": lambda: sim.set_vm(stopped, guest_os="beos"),
        "unknown workload": lambda: sim.set_vm(stopped, workload="mining"),
        "unknown mmu mode": lambda: sim.set_vm(stopped, mmu="turbo"),
        "vm larger than the host": lambda: sim.set_vm(stopped, memory_mb=4096),
        "vm too small": lambda: sim.set_vm(stopped, memory_mb=2),
        "no vcpus": lambda: sim.set_vm(stopped, vcpus=0),
        "empty salt": lambda: sim.set_vm(stopped, salt=""),
        "pshare not a bool": lambda: sim.set_vm(stopped, pshare="yes"),
        "empty name": lambda: sim.set_vm(stopped, name=" "),
        "add something else than a config": lambda: sim.add_vm({"name": "x"}),
        "scan time too short": lambda: sim.set_settings(**{"Mem.ShareScanTime": 5}),
        "scan time too long": lambda: sim.set_settings(**{"Mem.ShareScanTime": 601}),
        "scan rate negative": lambda: sim.set_settings(**{"Mem.ShareScanGHz": -1}),
        "scan rate too high": lambda: sim.set_settings(**{"Mem.ShareScanGHz": 33}),
        "rate max too high": lambda: sim.set_settings(**{"Mem.ShareRateMax": 40000}),
        "salting out of range": lambda: sim.set_settings(**{"Mem.ShareForceSalting": 3}),
        "setting not a whole number": lambda: sim.set_settings(**{"Mem.ShareScanTime": 30.5}),
        "setting given as a bool": lambda: sim.set_settings(**{"Mem.ShareForceSalting": True}),
        "unknown setting": lambda: sim.set_settings(**{"Mem.ShareEverything": 1}),
        "valid and invalid setting together": lambda: sim.set_settings(
            **{"Mem.ShareScanTime": 30, "Mem.ShareRateMax": -1}
        ),
        "min free percent too high": lambda: sim.set_settings(**{"Mem.MemMinFreePct": 51}),
        "idle tax of 100": lambda: sim.set_settings(**{"Mem.IdleTax": 100}),
        "balloon max too high": lambda: sim.set_settings(**{"Mem.CtlMaxPercent": 76}),
        "balloon max negative": lambda: sim.set_settings(**{"Mem.CtlMaxPercent": -1}),
        "zip enable not 0 or 1": lambda: sim.set_settings(**{"Mem.MemZipEnable": 2}),
        "zip cache too small": lambda: sim.set_settings(**{"Mem.MemZipMaxPct": 4}),
        "zip cache too large": lambda: sim.set_settings(**{"Mem.MemZipMaxPct": 101}),
        "no balance period": lambda: sim.set_settings(**{"Mem.BalancePeriod": 0}),
        "balance period too long": lambda: sim.set_settings(**{"Mem.BalancePeriod": 121}),
        "reservation above the vm's memory": lambda: sim.set_vm(running, reservation_mb=129),
        "negative reservation": lambda: sim.set_vm(stopped, reservation_mb=-1),
        "reservation not whole": lambda: sim.set_vm(stopped, reservation_mb=1.5),
        "limit below the reservation": lambda: sim.set_vm(stopped, reservation_mb=64, limit_mb=32),
        "limit of -2": lambda: sim.set_vm(running, limit_mb=-2),
        "zero shares": lambda: sim.set_vm(running, shares=0),
        "shares as a bool": lambda: sim.set_vm(running, shares=True),
        "shares as a level name": lambda: sim.set_vm(running, shares="high"),
        "balloon not a bool": lambda: sim.set_vm(running, balloon=1),
        "negative step": lambda: sim.step(-20),
        "negative scan": lambda: sim.share_scan(-1),
    }


@pytest.mark.parametrize("case", list(_refusals(None, 1, 2)))
def test_an_invalid_request_is_refused_and_changes_nothing(lab, case):
    sim, running, stopped = lab
    state = sim.snapshot()
    with pytest.raises(ValueError):
        _refusals(sim, running, stopped)[case]()
    assert sim.snapshot() == state


@pytest.mark.parametrize(
    "arguments",
    [
        {"memory_mb": 32},
        {"memory_mb": 1024.5},
        {"cpu_mhz": 0},
        {"hardware_mmu": "yes"},
        {"seed": -1},
        {"settings": {"Mem.ShareScanTime": 5}},
        {"settings": ["Mem.ShareScanTime", 60]},
    ],
)
def test_a_host_with_invalid_arguments_is_refused(arguments):
    with pytest.raises(ValueError):
        HostSim(**({"memory_mb": 1024, "cpu_mhz": 8000} | arguments))


def test_an_invalid_vm_config_is_refused_on_construction():
    with pytest.raises(ValueError, match="guest_os"):
        VMConfig("vm", 128, 1, "beos", "idle")
    with pytest.raises(ValueError, match="workload"):
        VMConfig("vm", 128, 1, "linux", "mining")


def test_guest_operations_return_what_they_did(lab):
    sim, running, _ = lab
    assert sim.guest_allocate(running, 10) == 10
    assert sim.guest_write(running, 0.5) == 13  # half of the 26 MB it holds
    assert sim.guest_free(running, 6) == 6
    assert sim.vm_counters(running)["lab.guest.used"] == sim.guest_view(running)["used"]
    assert sim.guest_view(running)["processes"][-1] == {"name": "toucher", "resident": 20 * MB}
