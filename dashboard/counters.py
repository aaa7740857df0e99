"""The counter catalogue: every performance counter the lab stores, described like vSphere's.

Names, labels, units and stats types follow the vSphere API's memory group (PerformanceManager,
"Memory Counters"); descriptions follow DESIGN.md section 4 and the vSphere Resource Management
guide, "Measuring and Differentiating Types of Memory Usage". Counters whose name starts with
`lab.` are the lab's own and say so. Stored values are in the unit given (KB or %); charts on the
Overview show memory in MB.

A counter is asked for with one of its rollups: `mem.granted.average`, `.minimum`, `.maximum`.
Real-time rows hold one value per counter, which answers all three rollups (as in vCenter, where
a real-time sample's minimum and maximum are the sample itself); rolled-up rows hold the three
statistics of their bucket (hostsim.rollups).
"""

from dataclasses import dataclass

ROLLUPS = ("average", "minimum", "maximum")
ENTITY_KINDS = ("vm", "host", "pool")
ALL = ENTITY_KINDS
HOST_AND_VM = ("vm", "host")


@dataclass(frozen=True)
class Counter:
    name: str
    label: str
    unit: str  # "KB" or "%"
    stats_type: str  # "absolute" (a level at the sample time) or "rate" (a share of time)
    entities: tuple[str, ...]
    description: str
    colour: str  # the same on every chart and page
    rollups: tuple[str, ...] = ROLLUPS

    @property
    def lab_own(self) -> bool:
        return self.name.startswith("lab.")

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "rollups": list(self.rollups),
            "statsType": self.stats_type,
            "entities": list(self.entities),
            "description": self.description,
            "labOwn": self.lab_own,
            "colour": self.colour,
        }


_COUNTERS = (
    Counter(
        "mem.granted", "Granted", "KB", "absolute", ALL,
        "Guest physical memory that is mapped to machine memory. A page is granted at its first "
        "touch and stays granted when the guest frees it (the frame stays mapped). For a host or "
        "resource pool: the sum over its powered-on VMs.",
        "#0072a3",
    ),
    Counter(
        "mem.consumed", "Consumed", "KB", "absolute", ALL,
        "Machine memory used to back the VM's guest memory: granted minus what page sharing "
        "saves, each shared frame charged in equal parts to the pages that map it. For a host: "
        "machine memory in use (total minus free), VMkernel included; for a pool: the sum over "
        "its VMs.",
        "#e57200",
    ),
    Counter(
        "mem.shared", "Shared", "KB", "absolute", ALL,
        "Guest memory mapped to a machine frame that other guest pages map too (copy-on-write, "
        "found by transparent page sharing), inside this VM or across VMs. For a host or pool: "
        "the sum over VMs.",
        "#3c8500",
    ),
    Counter(
        "mem.sharedcommon", "Shared common", "KB", "absolute", ("host",),
        "Machine memory holding the frames that back shared pages. Shared minus shared common is "
        "what page sharing saves (PSHARE saving in esxtop).",
        "#8939ad",
    ),
    Counter(
        "mem.zero", "Zero", "KB", "absolute", ALL,
        "Shared guest memory whose content is all zeros: the part of Shared that maps the zero "
        "page (a Windows guest zeroes all of its memory at boot).",
        "#0095a8",
    ),
    Counter(
        "mem.active", "Active", "KB", "absolute", ALL,
        "Guest memory the VM touched recently, estimated by sampling random pages each period and "
        "keeping fast and slow moving averages (Waldspurger, OSDI 2002, section 5.3). For a host "
        "or pool: the sum over VMs.",
        "#c92100",
    ),
    Counter(
        "mem.overhead", "Overhead", "KB", "absolute", ALL,
        "Host memory for the VM's own virtualization structures (VMM, page tables, frame buffer); "
        "it grows with configured memory and vCPUs. For a host or pool: the sum over VMs.",
        "#7d5a3c",
    ),
    Counter(
        "mem.vmmemctl", "Balloon", "KB", "absolute", ALL,
        "Guest memory reclaimed by the balloon driver (vmmemctl) under host memory pressure. The "
        "lab does not balloon yet, so this stays 0.",
        "#d4a200",
    ),
    Counter(
        "mem.swapped", "Swapped", "KB", "absolute", ALL,
        "Guest memory the VMkernel swapped out to the VM's swap file under host memory pressure.",
        "#6b6b6b",
    ),
    Counter(
        "mem.usage", "Usage", "%", "absolute", HOST_AND_VM,
        "Memory usage as a percentage of what is available: for a VM, active memory over "
        "configured memory; for a host, consumed memory over total capacity.",
        "#d6336c",
    ),
    Counter(
        "mem.totalCapacity", "Total capacity", "KB", "absolute", ("host",),
        "Machine memory of the host: what powered-on VMs, their overhead and the VMkernel can "
        "use.",
        "#1b2a32",
    ),
    Counter(
        "mem.sysUsage", "VMkernel consumed", "KB", "absolute", ("host",),
        "Machine memory the VMkernel uses for itself (esxtop PMEM vmk): host consumed memory "
        "minus what the VMs and their overhead use.",
        "#5a3e85",
    ),
    Counter(
        "lab.pshare.saving", "Sharing saving (lab)", "KB", "absolute", ("host",),
        "The lab's own counter, not a vSphere one: machine memory page sharing saves on the host, "
        "shared minus shared common (esxtop PSHARE saving).",
        "#6c8ebf",
    ),
    Counter(
        "lab.mmu.overhead", "MMU overhead (lab)", "%", "rate", ("vm",),
        "The lab's own counter, not a vSphere one: the share of vCPU time lost to MMU "
        "virtualization. Software MMU (shadow page tables) traps on every guest page-table "
        "update; hardware MMU (EPT/RVI) walks both page tables, up to 24 memory references, on "
        "each TLB miss.",
        "#8a8a00",
    ),
    Counter(
        "lab.guest.used", "Guest used (lab)", "KB", "absolute", ("vm",),
        "The lab's own counter, not a vSphere one: guest physical memory the guest OS has on its "
        "allocated list. Memory the guest frees returns to its free list but stays mapped, so "
        "Granted does not fall with it.",
        "#00567a",
    ),
)

CATALOGUE: dict[str, Counter] = {counter.name: counter for counter in _COUNTERS}

# The Memory chart of Performance > Overview, per entity kind (vSphere Client's "Memory" chart).
OVERVIEW_COUNTERS: dict[str, tuple[str, ...]] = {
    "vm": ("mem.granted", "mem.consumed", "mem.shared", "mem.active", "mem.overhead", "mem.vmmemctl"),
    "host": (
        "mem.granted", "mem.consumed", "mem.shared", "mem.sharedcommon", "mem.active", "mem.overhead",
    ),
    "pool": ("mem.granted", "mem.consumed", "mem.shared", "mem.active", "mem.overhead"),
}


class UnknownCounter(ValueError):
    """A stat key that names no counter of the catalogue, or a counter the entity does not have."""


def counters_for(kind: str) -> list[Counter]:
    return [counter for counter in _COUNTERS if kind in counter.entities]


def overview_keys(kind: str) -> list[str]:
    """The Overview chart's stat keys for an entity kind: `mem.granted.average`, ..."""
    return [f"{name}.average" for name in OVERVIEW_COUNTERS[kind]]


def parse_stat_key(key: str, kind: str) -> tuple[Counter, str]:
    """`mem.granted.average` -> (the Granted counter, "average"), checked against the entity kind."""
    name, _, rollup = key.rpartition(".")
    counter = CATALOGUE.get(name)
    if counter is None or rollup not in counter.rollups:
        raise UnknownCounter(
            f"Unknown counter {key[:60]!r}: use a name from /api/counters/ with a rollup "
            f"({', '.join(ROLLUPS)}), e.g. mem.granted.average."
        )
    if kind not in counter.entities:
        raise UnknownCounter(f"{key[:60]!r} is not kept for a {kind}.")
    return counter, rollup


def catalogue_json(kind: str | None = None) -> list[dict]:
    return [counter.as_json() for counter in (counters_for(kind) if kind else _COUNTERS)]
