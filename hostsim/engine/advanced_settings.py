"""ESXi's memory advanced settings, and the policy they set: how fast each VM is scanned for page
sharing, which VMs may share pages with which (salting), and how memory is divided and reclaimed
under contention (DESIGN.md 4 and 4b).

Defaults and ranges as `esxcli system settings advanced list` reports them (DESIGN.md 4), except
where a comment says otherwise. Changes take effect from the next step, except salting: a VM's salt
is fixed when it powers on, as in ESXi, where the salt and Mem.ShareForceSalting take effect for a
VM at its next power-on (VMware KB 2097593).
"""

from dataclasses import dataclass

from hostsim.engine.errors import EngineError
from hostsim.engine.machine import PAGES_PER_MB


@dataclass(frozen=True)
class AdvancedSetting:
    name: str
    default: int
    minimum: int
    maximum: int
    description: str


SHARE_SCAN_TIME = "Mem.ShareScanTime"
SHARE_SCAN_GHZ = "Mem.ShareScanGHz"
SHARE_RATE_MAX = "Mem.ShareRateMax"
SHARE_FORCE_SALTING = "Mem.ShareForceSalting"

TPS_SETTINGS: dict[str, AdvancedSetting] = {
    setting.name: setting
    for setting in (
        AdvancedSetting(SHARE_SCAN_TIME, 60, 10, 600, "Minutes to scan each VM's memory once."),
        AdvancedSetting(
            SHARE_SCAN_GHZ,
            4,
            0,
            32,
            "MB/s of page scanning per GHz of host CPU; 0 disables scanning.",
        ),
        AdvancedSetting(SHARE_RATE_MAX, 1024, 0, 32768, "Most pages scanned per second in one VM."),
        AdvancedSetting(
            SHARE_FORCE_SALTING,
            2,
            0,
            2,
            (
                "0: share across VMs; 1: by salt, unsalted VMs together; 2: by salt, else only "
                "inside a VM."
            ),
        ),
    )
}


MEM_MIN_FREE_PCT = "Mem.MemMinFreePct"
IDLE_TAX = "Mem.IdleTax"
CTL_MAX_PERCENT = "Mem.CtlMaxPercent"
MEM_ZIP_ENABLE = "Mem.MemZipEnable"
MEM_ZIP_MAX_PCT = "Mem.MemZipMaxPct"
BALANCE_PERIOD = "Mem.BalancePeriod"
ALLOC_GUEST_LARGE_PAGE = "Mem.AllocGuestLargePage"

# Memory under contention (DESIGN.md 4b). Defaults and ranges of the first five as an ESXi 7/8
# host lists them, except Mem.CtlMaxPercent: ESXi accepts 0-99, the lab 0-75 (issue 10's range).
# Mem.BalancePeriod is no longer user-visible in current ESXi; its default of 15 s is the vSphere 4
# Resource Management guide's ("Advanced Memory Attributes"); its range is our choice: 1-120 s
# (0 would mean never rebalancing, and the lab has no other trigger).
# Mem.AllocGuestLargePage: 1 (the default) backs the guest memory of hardware-MMU VMs with 2 MB
# large pages where the host has room (VMware KB 1021095); they break as free memory falls, so the
# setting sits with the contention settings.
CONTENTION_SETTINGS: dict[str, AdvancedSetting] = {
    setting.name: setting
    for setting in (
        AdvancedSetting(
            MEM_MIN_FREE_PCT,
            0,
            0,
            50,
            "Percent of host memory kept free (minFree); 0 for ESXi's sliding scale.",
        ),
        AdvancedSetting(IDLE_TAX, 75, 0, 99, "Idle memory tax rate, percent."),
        AdvancedSetting(
            CTL_MAX_PERCENT, 65, 0, 75, "Most a balloon driver takes, percent of the VM's memory."
        ),
        AdvancedSetting(MEM_ZIP_ENABLE, 1, 0, 1, "1: the memory compression cache is used."),
        AdvancedSetting(
            MEM_ZIP_MAX_PCT, 10, 5, 100, "Largest compression cache, percent of the VM's memory."
        ),
        AdvancedSetting(
            BALANCE_PERIOD, 15, 1, 120, "Seconds between recomputations of memory entitlement."
        ),
        AdvancedSetting(
            ALLOC_GUEST_LARGE_PAGE,
            1,
            0,
            1,
            (
                "1: guest memory of hardware-MMU VMs is backed by 2 MB large pages where there is "
                "room."
            ),
        ),
    )
}

ADVANCED_SETTINGS: dict[str, AdvancedSetting] = TPS_SETTINGS | CONTENTION_SETTINGS


def default_settings() -> dict[str, int]:
    return {name: setting.default for name, setting in ADVANCED_SETTINGS.items()}


def validate_settings(changes: dict) -> dict[str, int]:
    """The changes as ints, or EngineError naming the first bad one."""
    clean = {}
    for name, value in changes.items():
        setting = ADVANCED_SETTINGS.get(name) if isinstance(name, str) else None
        if setting is None:
            raise EngineError(
                f"Unknown advanced setting {name!r}; known: {', '.join(ADVANCED_SETTINGS)}."
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise EngineError(f"{name} must be a whole number, not {value!r}.")
        if not setting.minimum <= value <= setting.maximum:
            raise EngineError(
                f"{name} must be between {setting.minimum} and {setting.maximum}, not {value}."
            )
        clean[name] = int(value)
    return clean


def scan_rates(
    pages_by_vm: dict[int, int], settings: dict[str, int], host_mhz: int, eager: bool = False
) -> dict[int, float]:
    """Pages per second the scanner visits in each VM.

    Each VM is scanned once per Mem.ShareScanTime, at most Mem.ShareRateMax pages/s; when the sum
    exceeds Mem.ShareScanGHz MB/s per GHz of host CPU, all VMs are slowed down in proportion.
    `eager`: the host is short of memory (the clear state and worse), where ESXi calls TPS
    actively (Duncan Epping's table of the vSphere 6.0 states): every VM is scanned at
    Mem.ShareRateMax, within the same host budget (our reading).
    """
    scan_time_s = settings[SHARE_SCAN_TIME] * 60
    most = settings[SHARE_RATE_MAX]
    rates = {
        vm: most if eager else min(pages / scan_time_s, most) for vm, pages in pages_by_vm.items()
    }
    host_budget = settings[SHARE_SCAN_GHZ] * host_mhz / 1000 * PAGES_PER_MB
    total = sum(rates.values())
    if total > host_budget:
        scale = host_budget / total
        rates = {vm: rate * scale for vm, rate in rates.items()}
    return rates


def sharing_domain_key(vm_id: int, salt: str | None, force_salting: int) -> tuple:
    """Which share table a VM uses, from its salt and Mem.ShareForceSalting at power-on.

    Our reading of VMware KB 2097593:
      0  salting off: every VM shares with every VM (the paper's behaviour);
      1  VMs with the same sched.mem.pshare.salt share; VMs without a salt share with each other;
      2  (default) VMs with the same salt share; a VM without one gets its own salt (its vc.uuid),
         so it shares only inside itself.
    """
    if force_salting == 0:
        return ("host",)
    if salt is not None:
        return ("salt", salt)
    if force_salting == 1:
        return ("host",)
    return ("vm", vm_id)
