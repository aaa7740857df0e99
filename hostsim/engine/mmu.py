"""MMU virtualization cost: the lab's own `lab.mmu.overhead` counter, % of vCPU time lost.

Software MMU (shadow page tables): every guest page-table update traps to the VMM, which keeps the
shadow table in sync; a TLB miss walks the shadow table, 4 levels, as on bare metal.
Hardware MMU (Intel EPT / AMD RVI): no traps, but a TLB miss walks the guest table and, for each of
its references, the nested table: up to 24 memory references instead of 4.
(vSphere Resource Management, "Hardware-Assisted MMU Virtualization"; VMware, "Performance
Evaluation of Intel EPT Hardware Assist", 2009.)

Calibration, all in one place. The EPT white paper reports gains "of up to 48% for MMU-intensive
benchmarks" with hardware assist, and regressions for TLB-miss-heavy workloads with little
page-table activity. With the constants below the `webserver` preset (86,000 page-table updates
and 150,000 TLB misses per vCPU-second) loses 34.4% of its time in software mode and 3.0% in
hardware mode: (1 - 0.030) / (1 - 0.344) = 1.48, the paper's 48%. The `database` preset (1,000
updates, 450,000 misses) loses 0.4% in software mode and 9.0% in hardware mode.
"""

SOFTWARE = "software"
HARDWARE = "hardware"
AUTOMATIC = "automatic"
MMU_MODES = (AUTOMATIC, SOFTWARE, HARDWARE)

# One trapped page-table update: VM exit, emulation, shadow sync (our calibration)
SHADOW_UPDATE_COST_S = 4.0e-6
NATIVE_WALK_REFS = 4  # x86-64 four-level page walk
NESTED_WALK_REFS = 24  # two-dimensional walk, worst case (EPT white paper)
WALK_REF_COST_S = 10e-9  # average cost of one extra walk reference; most hit the page-walk caches (our calibration)
MAX_OVERHEAD_PERCENT = 95.0  # a VM still makes some progress


def effective_mode(requested: str, host_has_hardware_mmu: bool) -> str:
    """What a VM runs with: `automatic` picks hardware assist when the host CPU has it."""
    if requested == AUTOMATIC:
        return HARDWARE if host_has_hardware_mmu else SOFTWARE
    return requested


def overhead_percent(mode: str, pt_updates_per_s: float, tlb_misses_per_s: float) -> float:
    """Share of vCPU time lost to MMU virtualization, given per-vCPU event rates."""
    if mode == SOFTWARE:
        lost = pt_updates_per_s * SHADOW_UPDATE_COST_S
    else:
        lost = tlb_misses_per_s * (NESTED_WALK_REFS - NATIVE_WALK_REFS) * WALK_REF_COST_S
    return min(MAX_OVERHEAD_PERCENT, 100.0 * lost)
