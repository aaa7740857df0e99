"""The counter catalogue: every performance counter the lab stores, described like vSphere's.

Names, labels, units and stats types follow the vSphere API's memory group (PerformanceManager,
"Memory Counters"); descriptions follow DESIGN.md section 4 and the vSphere Resource Management
guide, "Measuring and Differentiating Types of Memory Usage", and for memory under contention
DESIGN.md 4b. Counters whose name starts with `lab.` are the lab's own and say so. Stored values
are in the unit given, as vSphere's QueryPerf returns them: KB, KBps, MB, a number, and percent
counters in hundredths of a percent (`scale` 100); charts on the Overview show memory in MB and
percent as percent.

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
    unit: str  # "KB", "KBps", "MB", "percent" or "number", as vSphere's PerfCounterInfo.unitInfo
    stats_type: str  # "absolute" (a level), "delta" (a change since power-on) or "rate"
    entities: tuple[str, ...]
    description: str
    colour: str  # the same on every chart and page
    rollups: tuple[str, ...] = ROLLUPS
    scale: int = 1  # stored units per shown unit: 100 for percentages kept in hundredths

    @property
    def lab_own(self) -> bool:
        return self.name.startswith("lab.")

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "scale": self.scale,
            "rollups": list(self.rollups),
            "statsType": self.stats_type,
            "entities": list(self.entities),
            "description": self.description,
            "labOwn": self.lab_own,
            "colour": self.colour,
        }


# When a VM gets 2 MB large pages and when it loses them: the lab.largepages counter's description
# and the host memory map's help text.
LARGE_PAGES_RULE = (
    "A hardware-MMU VM gets them with Mem.AllocGuestLargePage 1 while the host has at least "
    "4x minFree free; they are never shared (their 4 KB sub-pages are hashed as hints) and are "
    "broken into small pages below 4x minFree, and before any of their pages is ballooned, "
    "compressed or swapped (VMware KB 1021095)."
)

_COUNTERS = (
    Counter(
        "mem.granted",
        "Granted",
        "KB",
        "absolute",
        ALL,
        "Guest physical memory that is mapped to machine memory. A page is granted at its first "
        "touch and stays granted when the guest frees it (the frame stays mapped). For a host or "
        "resource pool: the sum over its powered-on VMs.",
        "#0072a3",
    ),
    Counter(
        "mem.consumed",
        "Consumed",
        "KB",
        "absolute",
        ALL,
        "Machine memory used to back the VM's guest memory: granted minus what page sharing "
        "saves, each shared frame charged in equal parts to the pages that map it. For a host: "
        "machine memory in use (total minus free), VMkernel included; for a pool: the sum over "
        "its VMs.",
        "#e57200",
    ),
    Counter(
        "mem.shared",
        "Shared",
        "KB",
        "absolute",
        ALL,
        "Guest memory mapped to a machine frame that other guest pages map too (copy-on-write, "
        "found by transparent page sharing), inside this VM or across VMs. For a host or pool: "
        "the sum over VMs.",
        "#3c8500",
    ),
    Counter(
        "mem.sharedcommon",
        "Shared common",
        "KB",
        "absolute",
        ("host",),
        "Machine memory holding the frames that back shared pages. Shared minus shared common is "
        "what page sharing saves (PSHARE saving in esxtop).",
        "#8939ad",
    ),
    Counter(
        "mem.zero",
        "Zero",
        "KB",
        "absolute",
        ALL,
        "Shared guest memory whose content is all zeros: the part of Shared that maps the zero "
        "page (a Windows guest zeroes all of its memory at boot).",
        "#0095a8",
    ),
    Counter(
        "mem.active",
        "Active",
        "KB",
        "absolute",
        ALL,
        "Guest memory the VM touched recently, estimated by sampling random pages each period and "
        "keeping fast and slow moving averages (Waldspurger, OSDI 2002, section 5.3). For a host "
        "or pool: the sum over VMs.",
        "#c92100",
    ),
    Counter(
        "mem.overhead",
        "Overhead",
        "KB",
        "absolute",
        ALL,
        "Host memory for the VM's own virtualization structures (VMM, page tables, frame buffer); "
        "it grows with configured memory and vCPUs. For a host or pool: the sum over VMs.",
        "#7d5a3c",
    ),
    Counter(
        "mem.vmmemctl",
        "Balloon",
        "KB",
        "absolute",
        ALL,
        "Guest physical memory the balloon driver (vmmemctl, part of VMware Tools) holds: pinned "
        "in the guest, so the host can take its frames. It inflates toward its target in the soft "
        "state and when a VM is over its limit, taking the guest's free pages first and then "
        "making the guest page out; it deflates when the host is back in high. For a host or "
        "pool: the sum over VMs.",
        "#d4a200",
    ),
    Counter(
        "mem.swapped",
        "Swapped",
        "KB",
        "absolute",
        ALL,
        "Guest memory the VMkernel swapped out to the VM's swap file (hard and low states, or a "
        "VM over its limit without a balloon driver). Zero and shared pages are shared before "
        "they would be swapped. For a host or pool: the sum over VMs.",
        "#6b6b6b",
    ),
    Counter(
        "mem.usage",
        "Usage",
        "percent",
        "absolute",
        HOST_AND_VM,
        "Memory usage as a percentage of what is available: for a VM, active memory over "
        "configured memory; for a host, consumed memory over host memory. Stored and served in "
        "hundredths of a percent (1234 is 12.34%), as vSphere's QueryPerf returns it; charts "
        "show percent.",
        "#d6336c",
        scale=100,
    ),
    Counter(
        "mem.totalCapacity",
        "Total capacity",
        "MB",
        "absolute",
        ("host",),
        "Memory reservation the host can give to powered-on VMs and their overhead: host memory "
        "less what the VMkernel keeps for itself (the root resource pool's reservation; vSphere "
        "calls it total reservation).",
        "#1b2a32",
    ),
    Counter(
        "mem.reservedCapacity",
        "Reserved capacity",
        "MB",
        "absolute",
        ("host",),
        "Memory reservation in use by powered-on VMs: their reservations and their overhead.",
        "#47606e",
    ),
    Counter(
        "mem.compressed",
        "Compressed",
        "KB",
        "absolute",
        ALL,
        "Guest memory held compressed in the VM's compression cache: a page the host would swap "
        "goes there instead when it compresses to 2 KB or less (Mem.MemZipEnable; the cache is "
        "at most Mem.MemZipMaxPct of the VM). For a host or pool: the sum over VMs.",
        "#a0522d",
    ),
    Counter(
        "mem.zipSaved",
        "Compression saved",
        "KB",
        "absolute",
        ("vm",),
        "What compression saves: compressed guest memory less the cache frames that hold it.",
        "#c08050",
    ),
    Counter(
        "mem.compressionRate",
        "Compression rate",
        "KBps",
        "rate",
        ("vm",),
        "Guest memory compressed per second over the last real-time interval.",
        "#b5651d",
    ),
    Counter(
        "mem.decompressionRate",
        "Decompression rate",
        "KBps",
        "rate",
        ("vm",),
        "Compressed guest memory decompressed per second, as the guest touches it again.",
        "#d2915a",
    ),
    Counter(
        "mem.vmmemctltarget",
        "Balloon target",
        "KB",
        "absolute",
        ("vm",),
        "What the host asks the balloon driver to hold: set every Mem.BalancePeriod from the "
        "VM's entitlement while the host is in the soft state or the VM is over its limit, at "
        "most Mem.CtlMaxPercent of its memory.",
        "#e6c200",
    ),
    Counter(
        "mem.swaptarget",
        "Swap target",
        "KB",
        "absolute",
        ("vm",),
        "What the host means to have swapped or compressed from the VM to bring it to its "
        "entitlement.",
        "#8c8c8c",
    ),
    Counter(
        "mem.swapin",
        "Swap in",
        "KB",
        "delta",
        ("vm",),
        "Guest memory read back from the swap file since the VM powered on.",
        "#4d4d4d",
    ),
    Counter(
        "mem.swapout",
        "Swap out",
        "KB",
        "delta",
        ("vm",),
        "Guest memory written to the swap file since the VM powered on.",
        "#9e9e9e",
    ),
    Counter(
        "mem.swapinRate",
        "Swap in rate",
        "KBps",
        "rate",
        HOST_AND_VM,
        "Swap-ins per second over the last real-time interval: the guest touched pages the host "
        "had swapped and waited for them. For a host: the sum over VMs.",
        "#333333",
    ),
    Counter(
        "mem.swapoutRate",
        "Swap out rate",
        "KBps",
        "rate",
        HOST_AND_VM,
        "Swap-outs per second over the last real-time interval. For a host: the sum over VMs.",
        "#b0b0b0",
    ),
    Counter(
        "mem.latency",
        "Page-fault latency",
        "percent",
        "absolute",
        ("vm",),
        "The share of time the VM waited for swapped or compressed memory to come back. Stored "
        "and served in hundredths of a percent, as vSphere returns it; charts show percent.",
        "#e03e8c",
        scale=100,
    ),
    Counter(
        "mem.entitlement",
        "Entitlement",
        "KB",
        "absolute",
        ("vm", "pool"),
        "The machine memory the VM deserves (esxtop SZTGT), divided down the resource tree "
        "every Mem.BalancePeriod: reservations first, then the rest by shares, each capped by "
        "its limit and its demand, idle memory taxed (Mem.IdleTax; Waldspurger 2002, 5.2). For a "
        "pool: the sum over its VMs.",
        "#2f7d95",
    ),
    Counter(
        "mem.swapused",
        "Swap used",
        "KB",
        "absolute",
        ("host",),
        "Swap space in use on the host: the VMs' swapped memory.",
        "#5c5c5c",
    ),
    Counter(
        "mem.state",
        "State",
        "number",
        "absolute",
        ("host",),
        "The host's free memory state, in the lab's encoding 0 high, 1 clear, 2 soft, 3 hard, "
        "4 low (vSphere 6.0 added clear; its API's 0-3 list no clear). The state begins as free "
        "memory falls below 100%, 64%, 32% and 16% of minFree (mem.lowfreethreshold): clear "
        "scans for page sharing eagerly, soft balloons, hard compresses and swaps, low also "
        "stalls VMs that need new memory.",
        "#7a0019",
    ),
    Counter(
        "mem.lowfreethreshold",
        "Low free threshold",
        "KB",
        "absolute",
        ("host",),
        "minFree: the free memory below which the host starts reclaiming memory from VMs. "
        "Mem.MemMinFreePct 0 gives ESXi's sliding scale: 6% of the first 4 GB, 4% of the next "
        "8 GB, 2% of the next 16 GB, 1% of the rest.",
        "#ff7f50",
    ),
    Counter(
        "mem.sysUsage",
        "VMkernel consumed",
        "KB",
        "absolute",
        ("host",),
        "Machine memory the VMkernel uses for itself (esxtop PMEM vmk): host consumed memory "
        "minus what the VMs and their overhead use.",
        "#5a3e85",
    ),
    Counter(
        "lab.pshare.saving",
        "Sharing saving (lab)",
        "KB",
        "absolute",
        ("host",),
        "The lab's own counter, not a vSphere one: machine memory page sharing saves on the host, "
        "shared minus shared common (esxtop PSHARE saving).",
        "#6c8ebf",
    ),
    Counter(
        "lab.mmu.overhead",
        "MMU overhead (lab)",
        "percent",
        "rate",
        ("vm",),
        "The lab's own counter, not a vSphere one: the share of vCPU time lost to MMU "
        "virtualization. Software MMU (shadow page tables) traps on every guest page-table "
        "update; hardware MMU (EPT/RVI) walks both page tables, up to 24 memory references, on "
        "each TLB miss. The lab assumes a 2 MB large page (lab.largepages) ends the nested walk "
        "one level early, 19 references instead of 24, while the TLB keeps 4 KB entries; a VM "
        'walks the average weighted by its large-backed part (VMware, "Performance Evaluation '
        'of Intel EPT Hardware Assist" and "... of AMD RVI Hardware Assist", 2009, which '
        "recommend large pages for TLB-miss-heavy workloads).",
        "#8a8a00",
    ),
    Counter(
        "lab.guest.used",
        "Guest used (lab)",
        "KB",
        "absolute",
        ("vm",),
        "The lab's own counter, not a vSphere one: guest physical memory the guest OS has on its "
        "allocated list. Memory the guest frees returns to its free list but stays mapped, so "
        "Granted does not fall with it.",
        "#00567a",
    ),
    # ---- The three layers (issue 11): the lab's own counters, not vSphere ones. ----
    Counter(
        "lab.guest.virtual",
        "Guest virtual (lab)",
        "KB",
        "absolute",
        ("vm",),
        "The lab's own counter, not a vSphere one: virtual memory the guest's processes have "
        "reserved by syscall (mmap, brk, fork). Reserving maps nothing: a page becomes resident "
        "on its first touch.",
        "#7a4f9e",
    ),
    Counter(
        "lab.guest.resident",
        "Guest resident (lab)",
        "KB",
        "absolute",
        ("vm",),
        "The lab's own counter, not a vSphere one: the processes' virtual pages that their guest "
        "page tables map to guest physical pages (a page mapped by two processes counts twice).",
        "#b07cc6",
    ),
    Counter(
        "lab.shadow.entries",
        "Shadow entries (lab)",
        "number",
        "absolute",
        ("vm",),
        "The lab's own counter, not a vSphere one: entries of the VMM's shadow page tables "
        "(virtual to machine), one per resident page of the guest's processes, under a software "
        "MMU; 0 under a hardware MMU, which keeps no shadow tables.",
        "#a0522d",
    ),
    Counter(
        "lab.shadow.syncs",
        "Shadow syncs (lab)",
        "number",
        "rate",
        ("vm",),
        "The lab's own counter, not a vSphere one: guest page-table updates per second that trap "
        "to the VMM so it can sync the shadow page tables (software MMU); 0 under a hardware MMU.",
        "#d2691e",
    ),
    Counter(
        "lab.tlb.misses",
        "TLB misses (lab)",
        "number",
        "rate",
        ("vm",),
        "The lab's own counter, not a vSphere one: TLB misses per second over all vCPUs, from the "
        "working set beyond the TLB's reach, the access pattern and, without tagging, the flush "
        "at each context switch.",
        "#2e8b57",
    ),
    Counter(
        "lab.tlb.walkrefs",
        "Walk references (lab)",
        "number",
        "absolute",
        ("vm",),
        "The lab's own counter, not a vSphere one: memory references per TLB miss: 4 for the "
        "shadow table's walk, up to 24 for the two-dimensional walk of a hardware MMU, 19 where "
        "2 MB large pages back the guest memory (the average, rounded, for a VM partly backed).",
        "#556b2f",
    ),
    Counter(
        "lab.largepages",
        "Large pages (lab)",
        "KB",
        "absolute",
        HOST_AND_VM,
        "The lab's own counter, not a vSphere one: guest memory backed by 2 MB large pages. "
        f"{LARGE_PAGES_RULE} For a host: the sum over its VMs.",
        "#b8860b",
    ),
)

CATALOGUE: dict[str, Counter] = {counter.name: counter for counter in _COUNTERS}

# The Memory chart of Performance > Overview, per entity kind (vSphere Client's "Memory" chart).
OVERVIEW_COUNTERS: dict[str, tuple[str, ...]] = {
    "vm": (
        "mem.granted",
        "mem.consumed",
        "mem.shared",
        "mem.active",
        "mem.overhead",
        "mem.vmmemctl",
        "mem.swapped",
        "mem.compressed",
    ),
    "host": (
        "mem.granted",
        "mem.consumed",
        "mem.shared",
        "mem.sharedcommon",
        "mem.active",
        "mem.overhead",
        "mem.vmmemctl",
        "mem.swapped",
        "mem.compressed",
    ),
    "pool": (
        "mem.granted",
        "mem.consumed",
        "mem.shared",
        "mem.active",
        "mem.overhead",
        "mem.vmmemctl",
        "mem.swapped",
        "mem.compressed",
    ),
}


class UnknownCounter(ValueError):
    """A stat key that names no counter of the catalogue, or a counter the entity does not have."""


def counters_for(kind: str) -> list[Counter]:
    return [counter for counter in _COUNTERS if kind in counter.entities]


def overview_keys(kind: str) -> list[str]:
    """The Overview chart's stat keys for an entity kind: `mem.granted.average`, ..."""
    return [f"{name}.average" for name in OVERVIEW_COUNTERS[kind]]


def parse_stat_key(key: str, kind: str) -> tuple[Counter, str]:
    """`mem.granted.average` -> (the Granted counter, "average"), checked against the entity
    kind."""
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
