"""Pool counters: each pool's sample is the sum over the powered-on VMs in its subtree.

hostsim knows nothing of pools, so the runtime announces the rows it is about to store and this
receiver adds one row per pool, stored in the same transaction (DESIGN.md, section 3).
"""

from collections import defaultdict

from django.dispatch import receiver

from hostsim.models import EntityKind, VirtualMachine
from hostsim.runtime import SampleRow
from hostsim.signals import samples_written
from pools.models import ResourcePool

# Counters that add up over VMs; percentages (mem.usage, lab.mmu.overhead) and rates do not
# need to. The counter catalogue (dashboard.counters) lists these, and only these, for pools.
POOL_COUNTERS = (
    "mem.granted",
    "mem.consumed",
    "mem.shared",
    "mem.zero",
    "mem.active",
    "mem.overhead",
    "mem.vmmemctl",
    "mem.swapped",
    "mem.compressed",
    "mem.entitlement",
)


@receiver(samples_written)
def add_pool_rows(sender, host_id, rows, **kwargs) -> list[SampleRow]:
    """One row per pool and per tick among `rows` (a tick's, or a fast-forward chunk's)."""
    parent_of = dict(ResourcePool.objects.filter(host_id=host_id).values_list("pk", "parent_id"))
    if not parent_of:
        return []
    pool_of_vm = dict(
        VirtualMachine.objects.filter(host_id=host_id).values_list("pk", "resource_pool_id")
    )
    ticks = dict.fromkeys(row.ts for row in rows)  # in order: the rows come tick by tick
    totals: dict[tuple, dict[str, float]] = defaultdict(lambda: dict.fromkeys(POOL_COUNTERS, 0))
    for row in rows:
        if row.kind != EntityKind.VM:
            continue
        pool_id = pool_of_vm.get(row.entity_id)
        while pool_id is not None:  # credit the VM to its pool and every ancestor
            sums = totals[row.ts, pool_id]
            for name in POOL_COUNTERS:
                sums[name] += row.values.get(name, 0)
            pool_id = parent_of.get(pool_id)
    return [
        SampleRow(EntityKind.POOL, pool_id, ts, dict(totals[ts, pool_id]))
        for ts in ticks
        for pool_id in parent_of
    ]
