"""Properties of admission control over random trees and random operation sequences.

Starting from a host with powered-off VMs, random operations are checked and only the admitted
ones applied. Trees are judged by an independent, recursive reading of DESIGN section 5 written
here, not by the module's own accounting; operations are applied here too.
"""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pools.admission import (
    INSUFFICIENT_RESOURCES,
    INVALID_ARGUMENT,
    RESOURCES,
    UNLIMITED,
    Allocation,
    PoolNode,
    TreeSnapshot,
    VmNode,
    check_create_pool,
    check_delete_pool,
    check_move,
    check_power_off,
    check_power_on,
    check_reconfigure_pool,
    check_reconfigure_vm,
    runtime,
)

UNIT = 512  # MB or MHz: coarse steps make exact fits and one-step-too-much cases common
VM_MEMORY_MB = 5 * UNIT  # reconfigurations may reserve 6 units: more than configured
VM_COUNT = 6

# -------------------------------------------------------------- an independent reading of the rules


def used(snap: TreeSnapshot, pool_id, resource: str) -> int:
    pools = sum(eff(snap, p.id, resource) for p in snap.pools.values() if p.parent_id == pool_id)
    vms = sum(
        vm.alloc(resource).reservation
        for vm in snap.vms.values()
        if vm.pool_id == pool_id and vm.powered_on
    )
    return pools + vms


def eff(snap: TreeSnapshot, pool_id, resource: str) -> int:
    return max(snap.pools[pool_id].alloc(resource).reservation, used(snap, pool_id, resource))


def fixed(pool: PoolNode, resource: str) -> bool:
    return pool.parent_id is None or not pool.alloc(resource).expandable


def is_valid(snap: TreeSnapshot) -> bool:
    for resource in RESOURCES:
        for pool in snap.pools.values():
            alloc = pool.alloc(resource)
            limited = alloc.limit != UNLIMITED
            if limited and alloc.limit < alloc.reservation:
                return False
            if fixed(pool, resource) and used(snap, pool.id, resource) > alloc.reservation:
                return False
            if limited and eff(snap, pool.id, resource) > alloc.limit:
                return False
        for vm in snap.vms.values():
            alloc = vm.alloc(resource)
            if alloc.limit != UNLIMITED and alloc.limit < alloc.reservation:
                return False
    return all(vm.memory.reservation <= vm.memory_mb for vm in snap.vms.values())


# ---------------------------------------------------------------------- random trees and operations

amounts = st.integers(0, 6).map(lambda n: n * UNIT)
pool_reservations = st.integers(0, 3).map(lambda n: n * UNIT)


@st.composite
def allocations(draw, *, vm: bool) -> Allocation:
    reservation = draw(amounts if vm else pool_reservations)
    limit = draw(
        st.one_of(
            st.just(UNLIMITED),
            st.just(UNLIMITED),
            st.integers(0, 6).map(lambda n: reservation + n * UNIT),
            st.integers(0, 6).map(lambda n: n * UNIT),  # sometimes below the reservation: invalid
        )
    )
    return Allocation(reservation, limit, expandable=False if vm else draw(st.booleans()))


indexes = st.integers(0, 99)
pool_allocations, vm_allocations = allocations(vm=False), allocations(vm=True)
creations = st.tuples(st.just("create"), indexes, pool_allocations, pool_allocations)
operations = st.one_of(
    creations,
    creations,
    st.tuples(st.just("power_on"), indexes),
    st.tuples(st.just("power_on"), indexes),
    st.tuples(st.just("power_off"), indexes),
    st.tuples(st.just("reconfigure_pool"), indexes, pool_allocations, pool_allocations),
    st.tuples(st.just("reconfigure_vm"), indexes, vm_allocations, vm_allocations),
    st.tuples(st.just("move_vm"), indexes, indexes),
    st.tuples(st.just("move_pool"), indexes, indexes),
    st.tuples(st.just("delete"), indexes),
)


def host(memory_mb: int, cpu_mhz: int, vm_reservations) -> TreeSnapshot:
    root = PoolNode(
        1,
        "host",
        None,
        Allocation(cpu_mhz, cpu_mhz, expandable=False),
        Allocation(memory_mb, memory_mb, expandable=False),
    )
    vms = [
        VmNode(
            i,
            f"vm{i}",
            1,
            False,
            2,
            VM_MEMORY_MB,
            Allocation(cpu, expandable=False),
            Allocation(mem, expandable=False),
        )
        for i, (cpu, mem) in enumerate(vm_reservations, start=1)
    ]
    return TreeSnapshot.build([root], vms)


def pick(index: int, items):
    items = list(items)
    return items[index % len(items)]


def attempt(snap: TreeSnapshot, op, new_pool_id: int):
    """(decision, the tree as it would be if the operation happened, the changed node's id).

    The tree is None when the operation cannot even be pictured (a cycle, no root)."""
    kind, index, *rest = op
    pools = snap.preorder()
    vms = sorted(snap.vms)
    movable = pools[1:] or pools
    if kind == "create":
        parent, (cpu, memory) = pick(index, pools), rest
        candidate = snap.with_pools(PoolNode(new_pool_id, f"rp{new_pool_id}", parent, cpu, memory))
        return check_create_pool(snap, parent, cpu, memory), candidate, new_pool_id
    if kind in ("power_on", "power_off"):
        vm = snap.vms[pick(index, vms)]
        check = check_power_on if kind == "power_on" else check_power_off
        candidate = snap.with_vms(replace(vm, powered_on=kind == "power_on"))
        return check(snap, vm.id), candidate, vm.id
    if kind == "reconfigure_pool":
        pool, (cpu, memory) = snap.pools[pick(index, pools)], rest
        candidate = snap.with_pools(replace(pool, cpu=cpu, memory=memory))
        return check_reconfigure_pool(snap, pool.id, cpu, memory), candidate, pool.id
    if kind == "reconfigure_vm":
        vm, (cpu, memory) = snap.vms[pick(index, vms)], rest
        candidate = snap.with_vms(replace(vm, cpu=cpu, memory=memory))
        return check_reconfigure_vm(snap, vm.id, cpu, memory), candidate, vm.id
    if kind == "move_vm":
        vm, target = snap.vms[pick(index, vms)], pick(rest[0], pools)
        candidate = snap.with_vms(replace(vm, pool_id=target))
        return check_move(snap, target, vm_ids=[vm.id]), candidate, vm.id
    if kind == "move_pool":
        pool, target = snap.pools[pick(index, movable)], pick(rest[0], pools)
        try:
            candidate = snap.with_pools(replace(pool, parent_id=target))
        except ValueError:  # the root, or a pool into itself or below itself
            candidate = None
        return check_move(snap, target, pool_ids=[pool.id]), candidate, pool.id
    assert kind == "delete"
    pool = snap.pools[pick(index, movable)]
    if pool.parent_id is None:
        return check_delete_pool(snap, pool.id), None, pool.id
    candidate = (
        snap.with_pools(*(replace(c, parent_id=pool.parent_id) for c in snap.child_pools(pool.id)))
        .with_vms(*(replace(v, pool_id=pool.parent_id) for v in snap.child_vms(pool.id)))
        .without_pool(pool.id)
    )
    return check_delete_pool(snap, pool.id), candidate, pool.id


def fits_by_runtime(snap: TreeSnapshot, before, kind: str, node_id, candidate) -> bool | None:
    """Whether the unreserved figures of `runtime` say the operation fits: it asks the parent
    (or the target) for no more than its unreservedForVm / unreservedForPool, and a pool's own
    new settings still cover what its children hold. None where those figures cannot tell
    alone (moves, deletions: leaving the source may free what the target needs)."""

    def asks_no_more(pool_id, field, wanted) -> bool:
        return all(wanted[r] <= before[pool_id][r][field] for r in RESOURCES)

    if kind == "create":
        new = candidate.pools[node_id]
        return asks_no_more(
            new.parent_id, "unreservedForPool", {r: new.alloc(r).reservation for r in RESOURCES}
        )
    if kind in ("power_on", "reconfigure_vm"):
        old, new = snap.vms[node_id], candidate.vms[node_id]
        if not new.powered_on:
            return True
        held = {r: old.alloc(r).reservation if old.powered_on else 0 for r in RESOURCES}
        growth = {r: new.alloc(r).reservation - held[r] for r in RESOURCES}
        return asks_no_more(new.pool_id, "unreservedForVm", growth)
    if kind == "reconfigure_pool":
        old, new = snap.pools[node_id], candidate.pools[node_id]
        growth = {}
        for r in RESOURCES:
            held, alloc = used(snap, node_id, r), new.alloc(r)
            if fixed(new, r) and held > alloc.reservation:
                return False
            if alloc.limit != UNLIMITED and max(alloc.reservation, held) > alloc.limit:
                return False
            growth[r] = max(alloc.reservation, held) - max(old.alloc(r).reservation, held)
        return new.parent_id is None or asks_no_more(new.parent_id, "unreservedForPool", growth)
    if kind == "power_off":
        return True
    return None


def assert_runtime_agrees(snap: TreeSnapshot) -> None:
    figures = runtime(snap)
    for pool in snap.pools.values():
        for resource in RESOURCES:
            usage, alloc = figures[pool.id][resource], pool.alloc(resource)
            assert usage["reservationUsed"] == used(snap, pool.id, resource)
            assert 0 <= usage["reservationUsedForVm"] <= usage["reservationUsed"]
            assert usage["unreservedForVm"] == usage["unreservedForPool"] >= 0
            if fixed(pool, resource):
                # ResourcePoolResourceUsage: "reservation = reservationUsed + unreserved"
                assert usage["reservationUsed"] + usage["unreservedForPool"] == alloc.reservation
            else:
                assert usage["maxUsage"] <= figures[pool.parent_id][resource]["maxUsage"]
            if alloc.limit != UNLIMITED:
                assert usage["maxUsage"] <= alloc.limit
                assert usage["reservationUsed"] + usage["unreservedForPool"] <= alloc.limit


@settings(max_examples=200, deadline=None)
@given(
    memory_mb=st.integers(4, 16).map(lambda n: n * UNIT),
    cpu_mhz=st.integers(4, 16).map(lambda n: n * UNIT),
    vm_reservations=st.lists(
        st.tuples(amounts, st.integers(0, 5).map(lambda n: n * UNIT)),
        min_size=VM_COUNT,
        max_size=VM_COUNT,
    ),
    setup=st.lists(creations, min_size=2, max_size=6),
    ops=st.lists(operations, min_size=5, max_size=40),
)
def test_admitted_operations_keep_every_tree_valid(memory_mb, cpu_mhz, vm_reservations, setup, ops):
    snap = host(memory_mb, cpu_mhz, vm_reservations)
    new_pool_id = 2
    for op in setup + ops:
        before = runtime(snap)
        decision, candidate, node_id = attempt(snap, op, new_pool_id)

        if decision.admitted:
            assert candidate is not None and is_valid(candidate), (op, decision)
        elif decision.fault == INSUFFICIENT_RESOURCES:
            # Refused only when the operation would really overcommit a pool, with figures
            # that show it: the pool asked has less unreserved than the operation needs.
            assert candidate is not None and not is_valid(candidate), (op, decision)
            assert decision.requested > decision.unreserved >= 0, decision
            assert decision.pool_id in snap.pools and decision.resource in RESOURCES
        else:
            assert decision.fault == INVALID_ARGUMENT, decision
            assert candidate is None or not is_valid(candidate), (op, decision)
        if decision.fault != INVALID_ARGUMENT:
            fits = fits_by_runtime(snap, before, op[0], node_id, candidate)
            assert fits is None or decision.admitted is fits, (op, decision, before)

        if decision.admitted:
            snap = candidate
            new_pool_id += op[0] == "create"
        assert is_valid(snap)
        assert_runtime_agrees(snap)
