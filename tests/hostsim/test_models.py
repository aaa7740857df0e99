"""The database's choices and ranges are the engine's: a VM or host the admin accepts, the engine runs."""

from hostsim import engine
from hostsim.models import (
    GUEST_OS_CHOICES,
    MMU_MODE_CHOICES,
    SHARE_RATE_MAX_RANGE,
    SHARE_SCAN_GHZ_RANGE,
    SHARE_SCAN_TIME_RANGE,
    WORKLOAD_CHOICES,
    Host,
)


def test_guest_os_workload_and_mmu_choices_are_the_engines_presets():
    assert [value for value, _ in GUEST_OS_CHOICES] == list(engine.GUEST_OS_PRESETS)
    assert [value for value, _ in WORKLOAD_CHOICES] == list(engine.WORKLOAD_PRESETS)
    assert [value for value, _ in MMU_MODE_CHOICES] == list(engine.MMU_MODES)


def test_advanced_setting_ranges_and_defaults_are_the_engines():
    ranges = {
        "Mem.ShareScanTime": SHARE_SCAN_TIME_RANGE,
        "Mem.ShareScanGHz": SHARE_SCAN_GHZ_RANGE,
        "Mem.ShareRateMax": SHARE_RATE_MAX_RANGE,
    }
    for name, (low, high) in ranges.items():
        setting = engine.TPS_SETTINGS[name]
        assert (setting.minimum, setting.maximum) == (low, high), name
    defaults = Host(name="h", memory_mb=4096, cpu_mhz=4000).advanced_settings
    assert defaults == {name: setting.default for name, setting in engine.TPS_SETTINGS.items()}
