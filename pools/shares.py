"""Share values and share percentages among siblings.

vSphere Resource Management, "Resource Allocation Shares": shares are relative weights that only
mean something among siblings (VMs and pools with the same parent). Pure: no Django, no ORM.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pools.admission import Allocation, TreeSnapshot

SHARE_LEVELS = ("low", "normal", "high", "custom")

# "Resource Allocation Shares", table "Share Values": per vCPU for CPU, per MB of configured memory
# for memory; High:Normal:Low is 4:2:1.
VM_CPU_SHARES_PER_VCPU = {"low": 500, "normal": 1000, "high": 2000}
VM_MEMORY_SHARES_PER_MB = {"low": 5, "normal": 10, "high": 20}

# Same guide: a resource pool's default shares are those of a VM with 4 vCPUs and 16 GB.
POOL_AS_VM_VCPUS = 4
POOL_AS_VM_MEMORY_MB = 16 * 1024


def share_value(
    kind: str,
    resource: str,
    level: str,
    vcpus: int | None = None,
    memory_mb: int | None = None,
    custom: int | None = None,
) -> int:
    """The number of shares a VM or pool holds at `level`.

    `custom` is read only for the custom level (vSphere SharesInfo: "If level is not set to custom,
    this value is ignored"). Raises ValueError for an unknown kind, resource or level, a custom
    level without a positive value, or a VM without the vCPUs / memory its level depends on.
    """
    if level not in SHARE_LEVELS:
        raise ValueError(f"unknown shares level {level!r}")
    if level == "custom":
        if custom is None or custom <= 0:
            raise ValueError("custom shares need a positive value")
        return custom
    if kind == "pool":
        vcpus, memory_mb = POOL_AS_VM_VCPUS, POOL_AS_VM_MEMORY_MB
    elif kind != "vm":
        raise ValueError(f"unknown kind {kind!r}: expected 'vm' or 'pool'")
    if resource == "cpu":
        if vcpus is None:
            raise ValueError("CPU shares of a VM depend on its number of vCPUs")
        return VM_CPU_SHARES_PER_VCPU[level] * vcpus
    if resource == "memory":
        if memory_mb is None:
            raise ValueError("memory shares of a VM depend on its configured memory")
        return VM_MEMORY_SHARES_PER_MB[level] * memory_mb
    raise ValueError(f"unknown resource {resource!r}: expected 'cpu' or 'memory'")


def allocation_shares(
    kind: str,
    resource: str,
    alloc: Allocation,
    vcpus: int | None = None,
    memory_mb: int | None = None,
) -> int:
    """The share value an Allocation stands for (its level, or its own number when custom)."""
    return share_value(kind, resource, alloc.shares_level, vcpus, memory_mb, custom=alloc.shares)


@dataclass(frozen=True)
class ChildShares:
    """One row of a pool's Resource Allocation tab: a child and its part of the siblings' shares."""

    kind: str  # "pool" | "vm"
    id: Hashable
    name: str
    level: str
    shares: int
    percent: float


def share_percentages(
    snapshot: TreeSnapshot, pool_id: Hashable, resource: str, *, powered_on_only: bool = False
) -> list[ChildShares]:
    """Each child's shares as a percentage of the sum over all children of `pool_id`.

    Child pools first, then VMs, in snapshot order. By default every child counts, powered on or
    not, the way the Resource Allocation tab lists them; `powered_on_only=True` gives the
    contention view (the guide: a VM's priority is "relative to other powered-on virtual
    machines"), where powered-off VMs are left out.
    """
    rows: list[tuple[str, Hashable, str, str, int]] = []
    for pool in snapshot.child_pools(pool_id):
        alloc = pool.alloc(resource)
        shares = allocation_shares("pool", resource, alloc)
        rows.append(("pool", pool.id, pool.name, alloc.shares_level, shares))
    for vm in snapshot.child_vms(pool_id):
        if powered_on_only and not vm.powered_on:
            continue
        alloc = vm.alloc(resource)
        shares = allocation_shares("vm", resource, alloc, vm.vcpus, vm.memory_mb)
        rows.append(("vm", vm.id, vm.name, alloc.shares_level, shares))
    total = sum(row[4] for row in rows)
    return [
        ChildShares(kind, child_id, name, level, shares, 100.0 * shares / total if total else 0.0)
        for kind, child_id, name, level, shares in rows
    ]
