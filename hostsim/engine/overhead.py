"""Memory the host spends on itself: per-VM overhead and the VMkernel.

VM overhead (VMM, shadow or nested page tables, frame buffer) grows with configured memory and
vCPUs. Our model is a plane fitted to the vSphere Resource Management guide's table "Sample
Overhead Memory on Virtual Machines" (vSphere 6.5/6.7): 256 MB / 1 vCPU 20.29 MB, 1024 MB /
1 vCPU 25.90 MB, 4096 MB / 2 vCPUs 52.72 MB, 16384 MB / 8 vCPUs 168.60 MB; the fit is within
2 MB of every entry of that table.

The VMkernel's own use is "a fixed, system-wide overhead" (same guide); ours is a small fixed part,
a part proportional to host memory (frame tables) and a little per running VM (our choice, scaled
so that toy hosts of a few hundred MB still run VMs).
"""

import math

from hostsim.engine.machine import PAGES_PER_MB

OVERHEAD_BASE_MB = 14.42
OVERHEAD_PER_VCPU_MB = 3.98
OVERHEAD_PER_GB_MB = 7.577

VMKERNEL_BASE_MB = 24
VMKERNEL_PER_HOST_GB_MB = 8
VMKERNEL_PER_VM_MB = 1


def vm_overhead_pages(memory_mb: int, vcpus: int) -> int:
    mb = OVERHEAD_BASE_MB + OVERHEAD_PER_VCPU_MB * vcpus + OVERHEAD_PER_GB_MB * memory_mb / 1024
    return math.ceil(mb * PAGES_PER_MB)


def vmkernel_base_pages(host_memory_mb: int) -> int:
    mb = VMKERNEL_BASE_MB + VMKERNEL_PER_HOST_GB_MB * host_memory_mb / 1024
    return math.ceil(mb * PAGES_PER_MB)


def vmkernel_per_vm_pages() -> int:
    return VMKERNEL_PER_VM_MB * PAGES_PER_MB
