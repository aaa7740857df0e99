"""MMU virtualization: shadow page tables, the TLB, the nested walk, and what they cost.

Software MMU (shadow page tables): the VMM keeps, per guest process, a shadow page table mapping
virtual pages straight to machine frames, one entry per resident page. Every guest page-table
update traps to the VMM so that it can update the shadow entry ("sync"); a context switch (a
guest CR3 write) traps too, the VMM switches to the process's shadow table and the TLB, untagged,
is flushed. A TLB miss walks the shadow table: 4 references, as on bare metal.
Hardware MMU (Intel EPT / AMD RVI): no shadow tables and no traps; the TLB is tagged (VPID), so a
context switch does not flush it; but a TLB miss walks the guest table and, for each of its
references, the nested table: (g + 1)(h + 1) - 1 references, 24 for 4-level guest and host
tables, fewer with large pages (fewer levels).
(vSphere Resource Management, "Software-Based and Hardware-Assisted Memory Virtualization";
VMware, "Performance Evaluation of Intel EPT Hardware Assist", 2009, and "Performance Evaluation
of AMD RVI Hardware Assist", 2009; Bhargava et al., "Accelerating two-dimensional page walks for
virtualized systems", ASPLOS 2008.)

Large pages (`vmm`): where the host backs guest memory with 2 MB pages, the nested table ends one
level early, so each of the 2D walk's five nested walks is 3 references, not 4: (4 + 1)(3 + 1) - 1
= 19 per TLB miss instead of 24. The guest's own tables still map 4 KiB pages, so we assume the
TLB keeps 4 KiB entries (its reach does not change) and only the walk gets shorter; a VM part of
whose memory is large-backed walks the average, weighted by that part (our assumption: misses
spread over its memory evenly). Both white papers recommend large pages for this reason.

The TLB, per vCPU: `TLB_ENTRIES` entries of 4 KiB (reach 6 MiB). A workload's references either
hit a hot set the TLB holds or scatter over its working set (`scattered_refs_per_s`); a scattered
reference misses with the chance that its page is not among the TLB's entries,
1 - entries / working set pages. After an untagged flush the process refills what it touches in
its time slice (`REFILL_PER_SWITCH`).

The working set (resident pages of the processes and the kernel) and the page-table updates come
from the simulated processes (`processes`); the presets give behaviour only: forks, context
switches, scattered references. Calibration, all in one place: with the constants below the
`webserver` preset (a worker fork and exit about 3.3 times per vCPU-second, each mapping and
unmapping the 48 MB server image and its own 2 MB, 2,000 context switches) loses about 34% of its
time in software mode and about 3% in hardware mode: about 1.48 times the throughput with hardware
assist, the paper's "up to 48%" for MMU-intensive work. The `database` preset (a 60% buffer pool
read at random, few updates) loses well under 1% in software mode and about 9% in hardware mode
with small pages, the paper's regression for TLB-miss-heavy workloads; all large-backed, about 7%.
"""

from dataclasses import dataclass

SOFTWARE = "software"
HARDWARE = "hardware"
AUTOMATIC = "automatic"
MMU_MODES = (AUTOMATIC, SOFTWARE, HARDWARE)

TLB_ENTRIES = 1536  # second-level TLB, 4 KiB entries (e.g. Intel Skylake's STLB)
REFILL_PER_SWITCH = 64  # pages a process touches again after switching in (our choice)
PAGE_TABLE_LEVELS = 4  # x86-64, 4 KiB pages; a 2 MiB large page saves one level
LARGE_PAGE_HOST_LEVELS = PAGE_TABLE_LEVELS - 1  # the nested table's levels down to a 2 MiB page
NATIVE_WALK_REFS = PAGE_TABLE_LEVELS
# One trapped page-table update: VM exit, emulation, shadow sync (our calibration)
SHADOW_UPDATE_COST_S = 4.0e-6
CONTEXT_SWITCH_TRAP_S = (
    2.0e-6  # a trapped CR3 write and the switch of shadow tables (our calibration)
)
WALK_REF_COST_S = (
    10e-9  # average cost of one walk reference; most hit the page-walk caches (our calibration)
)
MAX_OVERHEAD_PERCENT = 95.0  # a VM still makes some progress


def effective_mode(requested: str, host_has_hardware_mmu: bool) -> str:
    """What a VM runs with: `automatic` picks hardware assist when the host CPU has it."""
    if requested == AUTOMATIC:
        return HARDWARE if host_has_hardware_mmu else SOFTWARE
    return requested


def nested_walk_refs(
    guest_levels: int = PAGE_TABLE_LEVELS, host_levels: int = PAGE_TABLE_LEVELS
) -> int:
    """References of a two-dimensional walk: each guest level, and the final guest physical
    address, is translated through the host's table: (g + 1)(h + 1) - 1.
    """
    return (guest_levels + 1) * (host_levels + 1) - 1


def walk_refs(mode: str, large_fraction: float = 0.0) -> float:
    """Memory references per TLB miss; in hardware mode the average over the walks of the
    `large_fraction` of guest memory that large pages back and the rest.
    """
    if mode == SOFTWARE:
        return NATIVE_WALK_REFS
    large = nested_walk_refs(host_levels=LARGE_PAGE_HOST_LEVELS)
    return large_fraction * large + (1.0 - large_fraction) * nested_walk_refs()


@dataclass(frozen=True)
class Activity:
    """What a guest did over the last step, per vCPU-second, and its working set in pages."""

    pt_updates: float = 0.0
    context_switches: float = 0.0
    scattered_refs: float = 0.0
    working_set: int = 0

    def to_state(self) -> list:
        return [self.pt_updates, self.context_switches, self.scattered_refs, self.working_set]


def tlb_misses(activity: Activity, tagged: bool) -> float:
    """TLB misses per vCPU-second: scattered references beyond the TLB's reach, and (untagged)
    the refills after each context switch's flush.
    """
    pages = activity.working_set
    if pages <= 0:
        return 0.0
    misses = activity.scattered_refs * max(0.0, 1.0 - TLB_ENTRIES / pages)
    if not tagged:
        misses += activity.context_switches * min(REFILL_PER_SWITCH, pages)
    return misses


def cost(mode: str, activity: Activity, large_fraction: float = 0.0) -> dict:
    """What MMU virtualization costs one vCPU in `mode` for this activity: traps (shadow syncs
    and switches) per second, TLB misses per second, references per miss, % of time lost.
    `large_fraction`: the part of guest memory large pages back (hardware mode only).
    """
    if mode == SOFTWARE:
        misses = tlb_misses(activity, tagged=False)
        flush_misses = misses - tlb_misses(activity, tagged=True)
        syncs = activity.pt_updates
        lost = (
            syncs * SHADOW_UPDATE_COST_S
            + activity.context_switches * CONTEXT_SWITCH_TRAP_S
            + flush_misses * NATIVE_WALK_REFS * WALK_REF_COST_S
        )
    else:
        misses = tlb_misses(activity, tagged=True)
        syncs = 0.0
        lost = misses * (walk_refs(mode, large_fraction) - NATIVE_WALK_REFS) * WALK_REF_COST_S
    return {
        "mode": mode,
        "syncs_per_s": syncs,
        "traps_per_s": syncs + (activity.context_switches if mode == SOFTWARE else 0.0),
        "tlb_misses_per_s": misses,
        "walk_refs": round(walk_refs(mode, large_fraction)),
        "overhead_percent": min(MAX_OVERHEAD_PERCENT, 100.0 * lost),
    }


def overhead_percent(mode: str, activity: Activity, large_fraction: float = 0.0) -> float:
    """Share of vCPU time lost to MMU virtualization."""
    return cost(mode, activity, large_fraction)["overhead_percent"]
