"""Memory the host spends on itself: per-VM overhead and the VMkernel. One model, used by the
engine and by admission control (`pools`), so what admission promises is what the engine has.

VM overhead (VMM, shadow or nested page tables, frame buffer, the VMkernel's bookkeeping of the
VM: 1 MB, folded into the base) grows with configured memory and vCPUs. Our model is a plane
fitted to the vSphere Resource Management guide's table "Sample Overhead Memory on Virtual
Machines" (vSphere 6.5/6.7): 256 MB / 1 vCPU 20.29 MB, 1024 MB / 1 vCPU 25.90 MB, 4096 MB /
2 vCPUs 52.72 MB, 16384 MB / 8 vCPUs 168.60 MB; the fit is within 1.1 MB of every entry of that
table, bookkeeping included. ESXi reserves it at power-on.

The VMkernel's own use is "a fixed, system-wide overhead" (same guide); ours is a small fixed part
and a part proportional to host memory (frame tables), in whole MB (our choice, scaled so that toy
hosts of a few hundred MB still run VMs; a 512 GiB host keeps about 4 GB).
"""

import math

from hostsim.engine.machine import PAGES_PER_MB

OVERHEAD_BASE_MB = 15.42
OVERHEAD_PER_VCPU_MB = 3.98
OVERHEAD_PER_GB_MB = 7.577

VMKERNEL_BASE_MB = 24
VMKERNEL_PER_HOST_GB_MB = 8


def vm_overhead_pages(memory_mb: int, vcpus: int) -> int:
    mb = OVERHEAD_BASE_MB + OVERHEAD_PER_VCPU_MB * vcpus + OVERHEAD_PER_GB_MB * memory_mb / 1024
    return math.ceil(mb * PAGES_PER_MB)


def vm_overhead_mb(memory_mb: int, vcpus: int) -> float:
    """MB a powered-on VM of this size takes from the host besides its guest memory."""
    return vm_overhead_pages(memory_mb, vcpus) / PAGES_PER_MB


def vmkernel_reserved_mb(host_memory_mb: int) -> int:
    """MB the VMkernel keeps for itself: host memory minus this is what VMs can reserve."""
    return math.ceil(VMKERNEL_BASE_MB + VMKERNEL_PER_HOST_GB_MB * host_memory_mb / 1024)


def vmkernel_pages(host_memory_mb: int) -> int:
    return vmkernel_reserved_mb(host_memory_mb) * PAGES_PER_MB
