"""The database's choices and rules are the engine's: a VM or host the admin accepts, the engine
runs."""

import pytest
from django.core.exceptions import ValidationError

from hostsim import engine
from hostsim.models import GUEST_OS_CHOICES, MMU_MODE_CHOICES, WORKLOAD_CHOICES, Host


def test_guest_os_workload_and_mmu_choices_are_the_engines_presets():
    assert [value for value, _ in GUEST_OS_CHOICES] == list(engine.GUEST_OS_PRESETS)
    assert [value for value, _ in WORKLOAD_CHOICES] == list(engine.WORKLOAD_PRESETS)
    assert [value for value, _ in MMU_MODE_CHOICES] == list(engine.MMU_MODES)


def test_a_new_host_runs_esxis_defaults_and_its_own_settings_override_them():
    host = Host(name="h", memory_mb=4096, cpu_mhz=4000)
    assert host.settings["Mem.ShareScanTime"] == 60
    assert host.settings["Mem.ShareForceSalting"] == 2
    assert host.settings["Mem.IdleTax"] == 75
    assert host.settings["Mem.CtlMaxPercent"] == 65
    host.advanced_settings = {"Mem.IdleTax": 0}
    assert host.settings["Mem.IdleTax"] == 0
    assert host.settings["Mem.ShareScanTime"] == 60


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"Mem.ShareScanTime": 5}, "between 10 and 600"),
        ({"Mem.IdleTax": 100}, "between 0 and 99"),
        ({"Mem.BalancePeriod": 1.5}, "whole number"),
        ({"Mem.ShareRateMax": True}, "whole number"),
        ({"Mem.Bogus": 1}, "Unknown advanced setting 'Mem.Bogus'"),
        (["Mem.IdleTax"], "mapping"),
    ],
)
def test_advanced_settings_are_validated_by_the_engines_rules(changes, named):
    host = Host(name="h", memory_mb=4096, cpu_mhz=4000, advanced_settings=changes)
    with pytest.raises(ValidationError) as refused:
        host.clean_fields()
    assert named in str(refused.value.message_dict["advanced_settings"])


def _refused_fields(instance) -> set[str]:
    try:
        instance.clean_fields(exclude=["host", "resource_pool"])
    except ValidationError as exc:
        return set(exc.message_dict)
    return set()


def test_the_largest_vm_the_database_accepts_is_one_the_engine_runs():
    from hostsim.models import VirtualMachine

    smallest = {"memory_mb": 4, "vcpus": 1, "guest_os": "linux", "workload": "idle"}
    for field in ("memory_mb", "vcpus"):
        validators = VirtualMachine._meta.get_field(field).validators
        largest = max(v.limit_value for v in validators if hasattr(v, "limit_value"))
        assert field not in _refused_fields(VirtualMachine(name="vm", **{field: largest}))
        assert field in _refused_fields(VirtualMachine(name="vm", **{field: largest + 1}))
        engine.VMConfig(name="vm", **{**smallest, field: largest})  # the engine takes it


def test_no_host_the_database_accepts_is_too_big_for_the_engine():
    from hostsim.engine.host import MAX_HOST_MB  # the engine's bound: its frame numbers' width

    with pytest.raises(engine.EngineError):
        engine.HostSim(memory_mb=MAX_HOST_MB + 1, cpu_mhz=4000)
    assert "memory_mb" in _refused_fields(Host(name="h", memory_mb=MAX_HOST_MB + 1, cpu_mhz=4000))
