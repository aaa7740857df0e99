"""Admission control rules of DESIGN section 5, one scenario each, with vSphere's numbers.

Pure and database-free. Every tree is built with `Tree`, so that a refusal and its admitted
counterpart share their setup and differ in one number.
"""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pools.admission import (
    INSUFFICIENT_RESOURCES,
    INVALID_ARGUMENT,
    NEW_POOL_ALLOCATION,
    UNLIMITED,
    VM_DEFAULT_ALLOCATION,
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
    validate_allocation,
    violations,
)
from pools.shares import share_percentages, share_value

# --------------------------------------------------------------------------- building trees


def fixed(reservation: int, limit: int = UNLIMITED) -> Allocation:
    return Allocation(reservation, limit, expandable=False)


def expandable(reservation: int = 0, limit: int = UNLIMITED) -> Allocation:
    return Allocation(reservation, limit, expandable=True)


def reserve(reservation: int, limit: int = UNLIMITED) -> Allocation:
    """A VM's allocation."""
    return Allocation(reservation, limit, expandable=False)


class Tree:
    """A host's tree built by name. The root "host" reserves and is limited to the capacity."""

    def __init__(self, memory_mb: int = 16384, cpu_mhz: int = 20000):
        self.pools: list[PoolNode] = []
        self.vms: list[VmNode] = []
        self._add_pool("host", None, fixed(cpu_mhz, cpu_mhz), fixed(memory_mb, memory_mb))

    def _add_pool(self, name, parent_id, cpu, memory):
        self.pools.append(PoolNode(len(self.pools) + 1, name, parent_id, cpu, memory))

    def pool(self, name, parent="host", *, cpu=NEW_POOL_ALLOCATION, memory=NEW_POOL_ALLOCATION):
        self._add_pool(name, self._pool_id(parent), cpu, memory)
        return self

    def vm(
        self,
        name,
        pool="host",
        *,
        on=False,
        cpu=VM_DEFAULT_ALLOCATION,
        memory=VM_DEFAULT_ALLOCATION,
        vcpus=1,
        memory_mb=4096,
    ):
        vm_id = len(self.vms) + 1  # VM ids are their own id space: they overlap pool ids
        self.vms.append(VmNode(vm_id, name, self._pool_id(pool), on, vcpus, memory_mb, cpu, memory))
        return self

    def _pool_id(self, name):
        return next(pool.id for pool in self.pools if pool.name == name)

    def snapshot(self) -> TreeSnapshot:
        return TreeSnapshot.build(self.pools, self.vms)


def pool_id(snap: TreeSnapshot, name: str):
    return next(pool.id for pool in snap.pools.values() if pool.name == name)


def vm_id(snap: TreeSnapshot, name: str):
    return next(vm.id for vm in snap.vms.values() if vm.name == name)


def usage(snap: TreeSnapshot, pool_name: str, resource: str = "memory") -> dict[str, int]:
    return runtime(snap)[pool_id(snap, pool_name)][resource]


def unreserved(snap: TreeSnapshot, pool_name: str, resource: str = "memory") -> int:
    return usage(snap, pool_name, resource)["unreservedForVm"]


def powered_on(snap: TreeSnapshot, name: str) -> TreeSnapshot:
    """Power a VM on after admission control agreed."""
    decision = check_power_on(snap, vm_id(snap, name))
    assert decision.admitted, decision.message
    return snap.with_vms(replace(snap.vms[vm_id(snap, name)], powered_on=True))


def powered_off(snap: TreeSnapshot, name: str) -> TreeSnapshot:
    assert check_power_off(snap, vm_id(snap, name)).admitted
    return snap.with_vms(replace(snap.vms[vm_id(snap, name)], powered_on=False))


def moved_vm(snap: TreeSnapshot, name: str, target: str) -> TreeSnapshot:
    return snap.with_vms(replace(snap.vms[vm_id(snap, name)], pool_id=pool_id(snap, target)))


def assert_refused(decision, *, pool, resource, requested, unreserved):
    assert not decision.admitted
    assert decision.fault == INSUFFICIENT_RESOURCES
    assert (decision.pool_name, decision.resource) == (pool, resource)
    assert (decision.requested, decision.unreserved) == (requested, unreserved)


# --------------------------------------------------------------------------- the snapshot


def test_admission_control_runs_without_django():
    probe = "import sys, pools.admission, pools.shares; print('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


def test_snapshot_walks_children_ancestors_and_descendants():
    snap = (
        Tree()
        .pool("A")
        .pool("A1", "A")
        .pool("A1x", "A1")
        .pool("B")
        .vm("v-root")
        .vm("v-a1", "A1")
        .vm("v-a1x", "A1x")
        .snapshot()
    )
    a, a1 = pool_id(snap, "A"), pool_id(snap, "A1")

    assert [p.name for p in snap.child_pools(snap.root_id)] == ["A", "B"]
    assert [v.name for v in snap.child_vms(a1)] == ["v-a1"]
    assert [p.name for p in snap.ancestors(pool_id(snap, "A1x"))] == ["A1", "A", "host"]
    assert [p.name for p in snap.ancestors(a1, include_self=True)] == ["A1", "A", "host"]
    assert [p.name for p in snap.descendants(a)] == ["A1", "A1x"]
    assert [v.name for v in snap.subtree_vms(a)] == ["v-a1", "v-a1x"]
    assert [snap.pools[p].name for p in snap.preorder()] == ["host", "A", "A1", "A1x", "B"]


def test_snapshot_refuses_a_pool_without_parent_and_a_cycle():
    root = PoolNode(1, "host", None, fixed(1000), fixed(1024))
    with pytest.raises(ValueError, match="no parent"):
        TreeSnapshot.build([root, PoolNode(2, "lost", 99)])
    with pytest.raises(ValueError, match="one tree"):
        TreeSnapshot.build([root, PoolNode(2, "a", 3), PoolNode(3, "b", 2)])
    with pytest.raises(ValueError, match="not in this tree"):
        TreeSnapshot.build([root], [VmNode(1, "vm", 42, False, 1, 1024)])


# --------------------------------------------------------- child pools use the parent's reservation


def test_child_pool_reservations_consume_the_parents_unreserved_amount():
    snap = (
        Tree(memory_mb=8192)
        .pool("RP-A", memory=fixed(3072))
        .pool("RP-B", memory=expandable(1024))
        .snapshot()
    )

    host = usage(snap, "host")
    assert host["reservationUsed"] == 4096
    assert host["reservationUsedForVm"] == 0
    assert host["unreservedForPool"] == host["unreservedForVm"] == 4096
    assert usage(snap, "RP-A")["unreservedForVm"] == 3072
    assert usage(snap, "RP-B")["unreservedForVm"] == 1024 + 4096  # its own plus the host's


@pytest.mark.parametrize(("reservation", "admitted"), [(4096, True), (4097, False)])
def test_a_new_pool_may_exactly_fill_the_parent_but_not_one_mb_more(reservation, admitted):
    snap = Tree(memory_mb=8192).pool("RP-A", memory=fixed(4096)).snapshot()

    decision = check_create_pool(snap, snap.root_id, memory=fixed(reservation), name="RP-NEW")

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="host", resource="memory", requested=4097, unreserved=4096)
        assert decision.message == (
            'Insufficient resources to satisfy configured reservation: "host" has 4096 MB '
            "unreserved memory, the operation needs 4097 MB"
        )


@pytest.mark.parametrize(("reservation", "admitted"), [(2048, True), (2049, False)])
def test_a_vm_may_exactly_fill_its_fixed_pool_but_not_one_mb_more(reservation, admitted):
    snap = (
        Tree()
        .pool("RP", memory=fixed(4096))
        .vm("running", "RP", on=True, memory=reserve(2048))
        .vm("new", "RP", memory=reserve(reservation))
        .snapshot()
    )

    decision = check_power_on(snap, vm_id(snap, "new"))

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="RP", resource="memory", requested=2049, unreserved=2048)


def test_an_empty_pool_still_reserves_its_reservation():
    tree = Tree(memory_mb=8192).vm("web", memory=reserve(4096))
    empty = tree.snapshot()
    with_pool = tree.pool("RP-EMPTY", memory=expandable(6144)).snapshot()

    assert check_power_on(empty, vm_id(empty, "web")).admitted
    assert usage(with_pool, "host")["reservationUsed"] == 6144
    assert_refused(
        check_power_on(with_pool, vm_id(with_pool, "web")),
        pool="host",
        resource="memory",
        requested=4096,
        unreserved=2048,
    )


# ---------------------------------------------------------- expandable reservations (vSphere guide)


def guide_tree(*, vm_m2: bool) -> TreeSnapshot:
    """vSphere Resource Management, "Expandable Reservations Example" (CPU, MHz).

    RP-MOM reserves 6 GHz and runs VM-M1 (1 GHz); RP-KID is its child with a 2 GHz expandable
    reservation holding VM-K1 and VM-K2 (2 GHz each). RP-MOM is fixed: the guide's outcome
    needs it not to borrow from the host. The second scenario also runs VM-M2 (2 GHz) in RP-MOM.
    """
    tree = Tree(cpu_mhz=20000).pool("RP-MOM", cpu=fixed(6000))
    tree.vm("VM-M1", "RP-MOM", on=True, cpu=reserve(1000))
    if vm_m2:
        tree.vm("VM-M2", "RP-MOM", on=True, cpu=reserve(2000))
    tree.pool("RP-KID", "RP-MOM", cpu=expandable(2000))
    tree.vm("VM-K1", "RP-KID", cpu=reserve(2000)).vm("VM-K2", "RP-KID", cpu=reserve(2000))
    return tree.snapshot()


def test_guide_example_vm_k2_borrows_from_rp_mom_and_powers_on():
    snap = guide_tree(vm_m2=False)
    assert usage(snap, "RP-MOM", "cpu")["reservationUsed"] == 3000  # VM-M1 and RP-KID
    assert unreserved(snap, "RP-KID", "cpu") == 2000 + 3000

    # "VM-K1 can reserve the resources directly from RP-KID (which has 2GHz)."
    snap = powered_on(snap, "VM-K1")
    assert usage(snap, "RP-KID", "cpu") == {
        "reservationUsed": 2000,
        "reservationUsedForVm": 2000,
        "unreservedForPool": 3000,
        "unreservedForVm": 3000,
        "maxUsage": 20000,
    }
    assert usage(snap, "RP-MOM", "cpu")["reservationUsed"] == 3000  # RP-KID's 2 GHz, as before

    # "RP-MOM has 6GHz minus 1GHz ... minus 2GHz ..., which leaves 3GHz unreserved. With 3GHz
    # available, you can power on the 2GHz virtual machine."
    snap = powered_on(snap, "VM-K2")
    assert usage(snap, "RP-KID", "cpu")["reservationUsed"] == 4000
    assert usage(snap, "RP-MOM", "cpu") == {
        "reservationUsed": 5000,
        "reservationUsedForVm": 5000,
        "unreservedForPool": 1000,
        "unreservedForVm": 1000,
        "maxUsage": 20000,
    }
    assert unreserved(snap, "RP-KID", "cpu") == 1000
    assert usage(snap, "host", "cpu")["reservationUsed"] == 6000


def test_guide_example_vm_k2_is_refused_when_rp_mom_has_only_1_ghz_left():
    snap = powered_on(guide_tree(vm_m2=True), "VM-K1")  # "still ... 2GHz are available locally"
    # "5GHz of RP-MOM are already in use: 3GHz reserved by the local virtual machines and 2GHz
    # reserved by RP-KID"
    assert usage(snap, "RP-MOM", "cpu")["reservationUsed"] == 5000
    assert unreserved(snap, "RP-KID", "cpu") == 1000

    decision = check_power_on(snap, vm_id(snap, "VM-K2"))

    assert_refused(decision, pool="RP-MOM", resource="cpu", requested=2000, unreserved=1000)
    assert decision.message == (
        'Insufficient resources to satisfy configured reservation: "RP-KID" has 1000 MHz '
        'unreserved CPU, the operation needs 2000 MHz (borrowing stops at "RP-MOM", whose CPU '
        "reservation is fixed)"
    )


def test_a_limit_caps_borrowing():
    snap = (
        Tree(memory_mb=16384)
        .pool("CAPPED", memory=expandable(1024, limit=2048))
        .vm("one", "CAPPED", memory=reserve(1024))
        .vm("two", "CAPPED", memory=reserve(1024))
        .vm("three", "CAPPED", memory=reserve(512))
        .snapshot()
    )
    assert usage(snap, "CAPPED")["maxUsage"] == 2048
    assert unreserved(snap, "CAPPED") == 2048  # not its 1024 plus the host's 15360

    snap = powered_on(powered_on(snap, "one"), "two")  # "two" borrows 1024 MB from the host
    assert usage(snap, "host")["reservationUsed"] == 2048
    assert unreserved(snap, "host") == 14336
    assert unreserved(snap, "CAPPED") == 0

    decision = check_power_on(snap, vm_id(snap, "three"))

    assert_refused(decision, pool="CAPPED", resource="memory", requested=512, unreserved=0)
    assert 'capped by the memory limit of "CAPPED", 2048 MB' in decision.message


def test_a_fixed_pool_in_the_middle_of_an_expandable_chain_stops_the_borrowing():
    def tree(middle: Allocation) -> TreeSnapshot:
        return (
            Tree(memory_mb=16384)
            .pool("MID", memory=middle)
            .pool("LEAF", "MID", memory=expandable(0))
            .vm("first", "LEAF", on=True, memory=reserve(2048))
            .vm("second", "LEAF", memory=reserve(1))
            .snapshot()
        )

    stopped, borrowing = tree(fixed(2048)), tree(expandable(2048))
    assert unreserved(stopped, "LEAF") == 0
    assert unreserved(borrowing, "LEAF") == 16384 - 2048

    assert check_power_on(borrowing, vm_id(borrowing, "second")).admitted
    assert_refused(
        check_power_on(stopped, vm_id(stopped, "second")),
        pool="MID",
        resource="memory",
        requested=1,
        unreserved=0,
    )


def test_a_vm_borrows_through_a_chain_of_expandable_pools_up_to_the_root():
    snap = (
        Tree(memory_mb=8192)
        .pool("TOP")
        .pool("MID", "TOP")
        .pool("LEAF", "MID")
        .vm("big", "LEAF", memory=reserve(8192))
        .vm("more", "LEAF", memory=reserve(1))
        .snapshot()
    )
    assert unreserved(snap, "LEAF") == 8192

    snap = powered_on(snap, "big")

    for name in ("host", "TOP", "MID", "LEAF"):
        assert usage(snap, name)["reservationUsed"] == 8192
        assert usage(snap, name)["reservationUsedForVm"] == 8192
        assert unreserved(snap, name) == 0
    assert_refused(
        check_power_on(snap, vm_id(snap, "more")),
        pool="host",
        resource="memory",
        requested=1,
        unreserved=0,
    )


# --------------------------------------------------------------------------- power state


def test_powered_off_vms_consume_nothing():
    snap = (
        Tree(memory_mb=4096)
        .vm("big", memory=reserve(4096))
        .vm("small", memory=reserve(4096))
        .snapshot()
    )
    assert usage(snap, "host")["reservationUsed"] == 0

    snap = powered_on(snap, "small")
    assert usage(snap, "host")["reservationUsed"] == 4096
    assert_refused(
        check_power_on(snap, vm_id(snap, "big")),
        pool="host",
        resource="memory",
        requested=4096,
        unreserved=0,
    )

    snap = powered_off(snap, "small")
    assert unreserved(snap, "host") == 4096
    assert check_power_on(snap, vm_id(snap, "big")).admitted


def test_power_on_is_refused_for_the_resource_that_is_short():
    snap = (
        Tree(memory_mb=8192, cpu_mhz=4000)
        .vm("hungry", cpu=reserve(4001), memory=reserve(1024))
        .snapshot()
    )

    assert_refused(
        check_power_on(snap, vm_id(snap, "hungry")),
        pool="host",
        resource="cpu",
        requested=4001,
        unreserved=4000,
    )


# --------------------------------------------------------------------------- reconfiguring VMs


def running_pair() -> TreeSnapshot:
    return (
        Tree(memory_mb=8192)
        .vm("db", on=True, memory=reserve(4096), memory_mb=8192)
        .vm("web", on=True, memory=reserve(2048), memory_mb=8192)
        .vm("idle", memory=reserve(0), memory_mb=8192)
        .snapshot()
    )


@pytest.mark.parametrize(("new_reservation", "admitted"), [(4096, True), (4097, False)])
def test_raising_a_running_vms_reservation_needs_room(new_reservation, admitted):
    snap = running_pair()

    decision = check_reconfigure_vm(snap, vm_id(snap, "web"), memory=reserve(new_reservation))

    assert decision.admitted is admitted
    if not admitted:  # the pool is asked for the increase only
        assert_refused(decision, pool="host", resource="memory", requested=2049, unreserved=2048)


def test_a_powered_off_vm_may_reserve_more_than_is_free():
    snap = running_pair()

    assert check_reconfigure_vm(snap, vm_id(snap, "idle"), memory=reserve(8192)).admitted


def test_a_vm_cannot_reserve_more_memory_than_it_is_configured_with():
    snap = running_pair()
    idle = vm_id(snap, "idle")

    too_much = check_reconfigure_vm(snap, idle, memory=reserve(8193))
    shrunk = check_reconfigure_vm(snap, vm_id(snap, "db"), memory_mb=2048)

    assert check_reconfigure_vm(snap, idle, memory=reserve(8192)).admitted
    for decision in (too_much, shrunk):
        assert (decision.admitted, decision.fault) == (False, INVALID_ARGUMENT)
        assert "cannot exceed the configured memory" in decision.fields["memory_reservation"]


def test_a_vm_limit_below_its_reservation_is_invalid():
    snap = running_pair()

    decision = check_reconfigure_vm(snap, vm_id(snap, "idle"), cpu=reserve(1000, limit=999))

    assert (decision.admitted, decision.fault, decision.resource) == (
        False,
        INVALID_ARGUMENT,
        "cpu",
    )
    assert set(decision.fields) == {"cpu_limit"}
    assert check_reconfigure_vm(snap, vm_id(snap, "idle"), cpu=reserve(1000, limit=1000)).admitted


# --------------------------------------------------------------------------- reconfiguring pools


def pool_with_vms(pool: Allocation) -> TreeSnapshot:
    return (
        Tree(memory_mb=8192)
        .pool("RP", memory=pool)
        .vm("a", "RP", on=True, memory=reserve(2048))
        .vm("b", "RP", on=True, memory=reserve(1024))
        .snapshot()
    )


@pytest.mark.parametrize(("limit", "admitted"), [(3072, True), (3071, False)])
def test_a_pool_limit_cannot_go_below_its_childrens_reservations(limit, admitted):
    snap = pool_with_vms(expandable(0))

    decision = check_reconfigure_pool(snap, pool_id(snap, "RP"), memory=expandable(0, limit=limit))

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="RP", resource="memory", requested=3072, unreserved=3071)
        assert "limit" in decision.message


@pytest.mark.parametrize(("reservation", "admitted"), [(3072, True), (3071, False)])
def test_a_fixed_reservation_cannot_be_lowered_below_what_it_holds(reservation, admitted):
    snap = pool_with_vms(fixed(4096))

    decision = check_reconfigure_pool(snap, pool_id(snap, "RP"), memory=fixed(reservation))

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="RP", resource="memory", requested=3072, unreserved=3071)


def test_an_expandable_reservation_may_be_lowered_below_what_it_holds():
    snap = pool_with_vms(expandable(4096))
    rp = pool_id(snap, "RP")

    assert check_reconfigure_pool(snap, rp, memory=expandable(1024)).admitted
    lowered = snap.with_pools(replace(snap.pools[rp], memory=expandable(1024)))
    assert usage(lowered, "host")["reservationUsed"] == 3072  # now it borrows 2048 MB
    assert usage(lowered, "RP")["reservationUsed"] == 3072


def test_a_borrowing_pool_cannot_become_fixed():
    snap = pool_with_vms(expandable(1024))

    decision = check_reconfigure_pool(snap, pool_id(snap, "RP"), memory=fixed(1024))

    assert_refused(decision, pool="RP", resource="memory", requested=3072, unreserved=1024)


def test_a_pool_limit_below_its_own_reservation_is_invalid():
    snap = pool_with_vms(expandable(4096))

    decision = check_reconfigure_pool(
        snap, pool_id(snap, "RP"), memory=expandable(4096, limit=4000)
    )

    assert (decision.admitted, decision.fault) == (False, INVALID_ARGUMENT)
    assert set(decision.fields) == {"memory_limit"}


@pytest.mark.parametrize(
    ("reservation", "admitted"),
    [(3072, True), (4096, True), (4097, False)],
)
def test_raising_a_pool_reservation_asks_only_for_what_it_did_not_already_borrow(
    reservation, admitted
):
    # RP reserves 1024 MB but holds 3072 (it borrows 2048); "other" holds 4096 at the root.
    snap = (
        Tree(memory_mb=8192)
        .pool("RP", memory=expandable(1024))
        .vm("a", "RP", on=True, memory=reserve(3072))
        .vm("other", on=True, memory=reserve(4096))
        .snapshot()
    )
    assert unreserved(snap, "host") == 1024

    decision = check_reconfigure_pool(snap, pool_id(snap, "RP"), memory=expandable(reservation))

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="host", resource="memory", requested=1025, unreserved=1024)


# --------------------------------------------------------------------------- moves


def move_tree() -> TreeSnapshot:
    return (
        Tree(memory_mb=16384)
        .pool("FULL", memory=fixed(2048))
        .pool("ROOMY", memory=fixed(4096))
        .pool("PARENT", memory=expandable(0))
        .pool("CHILD", "PARENT", memory=fixed(1024))
        .pool("GRANDCHILD", "CHILD")
        .vm("filler", "FULL", on=True, memory=reserve(2048))
        .vm("mover", on=True, memory=reserve(1024))
        .vm("sleeper", memory=reserve(1024))
        .snapshot()
    )


def test_a_refused_move_reports_why():
    snap = move_tree()

    decision = check_move(snap, pool_id(snap, "FULL"), vm_ids=[vm_id(snap, "mover")])

    assert_refused(decision, pool="FULL", resource="memory", requested=1024, unreserved=0)
    assert decision.message.startswith(
        'Insufficient resources to satisfy configured reservation: "FULL"'
    )


def test_a_vm_moves_into_a_pool_with_room_and_a_powered_off_one_anywhere():
    snap = move_tree()

    assert check_move(snap, pool_id(snap, "ROOMY"), vm_ids=[vm_id(snap, "mover")]).admitted
    assert check_move(snap, pool_id(snap, "FULL"), vm_ids=[vm_id(snap, "sleeper")]).admitted

    moved = moved_vm(snap, "mover", "ROOMY")
    assert usage(moved, "ROOMY")["reservationUsed"] == 1024
    assert (
        usage(moved, "host")["reservationUsed"] == 2048 + 4096 + 1024
    )  # pools' R, not the VM again


def test_a_pool_cannot_move_into_itself_or_below_itself():
    snap = move_tree()
    parent = pool_id(snap, "PARENT")

    for target in ("PARENT", "CHILD", "GRANDCHILD"):
        decision = check_move(snap, pool_id(snap, target), pool_ids=[parent])
        assert (decision.admitted, decision.fault) == (False, INVALID_ARGUMENT)
        assert "cannot move into itself or into a pool below it" in decision.message
    assert check_move(snap, pool_id(snap, "ROOMY"), pool_ids=[pool_id(snap, "GRANDCHILD")]).admitted


def test_the_root_cannot_move_and_nothing_moves_across_hosts():
    snap = move_tree()

    root = check_move(snap, pool_id(snap, "ROOMY"), pool_ids=[snap.root_id])
    foreign = check_move(snap, pool_id(snap, "ROOMY"), vm_ids=[999])

    assert (root.admitted, root.fault) == (False, INVALID_ARGUMENT)
    assert "root resource pool" in root.message
    assert (foreign.admitted, foreign.fault) == (False, INVALID_ARGUMENT)
    assert "moving across hosts is not supported" in foreign.message


@pytest.mark.parametrize(("target", "admitted"), [("ROOMY", True), ("FULL", False)])
def test_pool_moves_are_admission_controlled(target, admitted):
    snap = move_tree()  # CHILD reserves 1024 MB (fixed) and holds nothing

    decision = check_move(snap, pool_id(snap, target), pool_ids=[pool_id(snap, "CHILD")])

    assert decision.admitted is admitted
    if not admitted:
        assert_refused(decision, pool="FULL", resource="memory", requested=1024, unreserved=0)


def test_a_moved_pool_takes_its_reservation_along():
    snap = move_tree()
    child = pool_id(snap, "CHILD")
    assert usage(snap, "PARENT")["reservationUsed"] == 1024

    moved = snap.with_pools(replace(snap.pools[child], parent_id=pool_id(snap, "ROOMY")))

    assert usage(moved, "PARENT")["reservationUsed"] == 0
    assert usage(moved, "ROOMY")["reservationUsed"] == 1024
    assert unreserved(moved, "ROOMY") == 3072


def test_a_moved_vm_keeps_its_allocation_and_its_share_percentage_follows_its_new_siblings():
    tree = Tree(memory_mb=65536).pool("A").pool("B")
    tree.vm("traveller", "A", memory_mb=4096, memory=Allocation(1024, 2048, False, "normal"))
    tree.vm("stay-a", "A", memory_mb=4096)  # normal: 40960 shares
    tree.vm("stay-b", "B", memory_mb=2048, memory=Allocation(shares_level="low"))  # 10240 shares
    snap = tree.snapshot()
    before = {
        row.name: row.percent for row in share_percentages(snap, pool_id(snap, "A"), "memory")
    }
    assert before == {"traveller": 50.0, "stay-a": 50.0}

    assert check_move(snap, pool_id(snap, "B"), vm_ids=[vm_id(snap, "traveller")]).admitted
    moved = moved_vm(snap, "traveller", "B")

    assert moved.vms[vm_id(moved, "traveller")].memory == Allocation(1024, 2048, False, "normal")
    rows = share_percentages(moved, pool_id(moved, "B"), "memory")
    assert {row.name: (row.shares, row.percent) for row in rows} == {
        "stay-b": (10240, 20.0),
        "traveller": (40960, 80.0),
    }
    assert [row.name for row in share_percentages(moved, pool_id(moved, "A"), "memory")] == [
        "stay-a"
    ]


# --------------------------------------------------------------------------- deletion


def test_deleting_a_pool_hands_its_children_to_the_parent():
    snap = (
        Tree(memory_mb=8192)
        .pool("DOOMED", memory=fixed(4096))
        .pool("KEPT", "DOOMED", memory=fixed(1024))
        .vm("vm", "DOOMED", on=True, memory=reserve(512))
        .snapshot()
    )
    doomed = pool_id(snap, "DOOMED")
    assert usage(snap, "host")["reservationUsed"] == 4096

    assert check_delete_pool(snap, doomed).admitted
    after = (
        snap.with_pools(replace(snap.pools[pool_id(snap, "KEPT")], parent_id=snap.root_id))
        .with_vms(replace(snap.vms[vm_id(snap, "vm")], pool_id=snap.root_id))
        .without_pool(doomed)
    )

    assert [p.name for p in after.child_pools(after.root_id)] == ["KEPT"]
    assert usage(after, "host")["reservationUsed"] == 1024 + 512
    assert unreserved(after, "host") == 8192 - 1536
    assert violations(after) == []


def test_the_root_pool_cannot_be_deleted():
    snap = Tree().snapshot()

    decision = check_delete_pool(snap, snap.root_id)

    assert (decision.admitted, decision.fault) == (False, INVALID_ARGUMENT)


# ------------------------------------------------------------- a tree that is already overcommitted


def shrunk_host() -> TreeSnapshot:
    """The host lost memory: pools reserving 6656 MB on a 4096 MB root."""
    return (
        Tree(memory_mb=4096)
        .pool("RP-1", memory=fixed(3072))
        .pool("RP-2", memory=fixed(3072))
        .pool("RP-3", memory=expandable(512))
        .vm("inside", "RP-1", on=True, memory=reserve(1024))
        .vm("waiting", "RP-1", memory=reserve(1024))
        .vm("outside", memory=reserve(1))
        .vm("own-slack", "RP-3", memory=reserve(512))
        .vm("borrower", "RP-3", memory=reserve(513))
        .snapshot()
    )


def test_an_overcommitted_tree_shows_nothing_unreserved_at_the_root():
    snap = shrunk_host()

    assert [(v.kind, v.name, v.resource, v.excess) for v in violations(snap)] == [
        ("fixed_reservation_exceeded", "host", "memory", 2560)
    ]
    assert usage(snap, "host")["unreservedForVm"] == 0
    assert usage(snap, "RP-1")["unreservedForVm"] == 2048  # its own reservation still holds
    assert usage(snap, "RP-3")["unreservedForVm"] == 512  # its own slack, nothing borrowed


def test_an_overcommitted_tree_admits_what_does_not_make_it_worse():
    snap = shrunk_host()

    assert check_power_off(snap, vm_id(snap, "inside")).admitted
    assert check_reconfigure_pool(snap, pool_id(snap, "RP-2"), memory=fixed(1024)).admitted
    assert check_power_on(snap, vm_id(snap, "waiting")).admitted  # inside RP-1's own reservation
    assert check_power_on(snap, vm_id(snap, "own-slack")).admitted
    assert_refused(
        check_power_on(snap, vm_id(snap, "borrower")),
        pool="host",
        resource="memory",
        requested=513,
        unreserved=512,
    )
    assert_refused(
        check_power_on(snap, vm_id(snap, "outside")),
        pool="host",
        resource="memory",
        requested=1,
        unreserved=0,
    )


# --------------------------------------------------------------------------- runtime


def test_the_root_is_fixed_whatever_its_expandable_flag_says():
    root = PoolNode(1, "host", None, expandable(20000, 20000), expandable(4096, 4096))
    snap = TreeSnapshot.build([root], [VmNode(1, "big", 1, False, 1, 8192, memory=reserve(4097))])

    assert usage(snap, "host")["unreservedForVm"] == 4096
    assert_refused(
        check_power_on(snap, 1), pool="host", resource="memory", requested=4097, unreserved=4096
    )


def test_violations_list_what_is_wrong_with_stored_values():
    snap = (
        Tree(memory_mb=8192)
        .pool("RP", cpu=Allocation(2000, 1000))
        .vm("greedy", memory_mb=1024, memory=reserve(2048))
        .snapshot()
    )

    assert [(v.kind, v.entity, v.name, v.resource, v.excess) for v in violations(snap)] == [
        ("limit_below_reservation", "pool", "RP", "cpu", 1000),
        ("reservation_above_memory", "vm", "greedy", "memory", 1024),
    ]


def test_max_usage_is_the_smallest_limit_up_to_the_root():
    snap = (
        Tree(memory_mb=16384)
        .pool("CAPPED", memory=expandable(0, limit=4096))
        .pool("WIDER", "CAPPED", memory=expandable(0, limit=8192))
        .pool("NARROWER", "CAPPED", memory=expandable(0, limit=1024))
        .pool("FREE", "CAPPED")
        .pool("OPEN")
        .snapshot()
    )

    max_usage = {
        name: usage(snap, name)["maxUsage"]
        for name in ("host", "CAPPED", "WIDER", "NARROWER", "FREE", "OPEN")
    }

    assert max_usage == {
        "host": 16384,
        "CAPPED": 4096,
        "WIDER": 4096,
        "NARROWER": 1024,
        "FREE": 4096,
        "OPEN": 16384,
    }


def test_reservation_used_for_vm_counts_running_vms_in_the_whole_subtree():
    snap = (
        Tree(memory_mb=16384)
        .pool("RP", memory=fixed(4096))
        .pool("SUB", "RP", memory=fixed(2048))
        .vm("direct", "RP", on=True, memory=reserve(512))
        .vm("nested", "SUB", on=True, memory=reserve(256))
        .vm("off", "SUB", memory=reserve(1024))
        .snapshot()
    )

    assert usage(snap, "RP")["reservationUsed"] == 512 + 2048
    assert usage(snap, "RP")["reservationUsedForVm"] == 512 + 256
    assert usage(snap, "host")["reservationUsedForVm"] == 768


# --------------------------------------------------------------------------- shares


@pytest.mark.parametrize(
    ("kind", "resource", "level", "expected"),
    [
        ("vm", "cpu", "low", 1000),
        ("vm", "cpu", "normal", 2000),  # the guide: 2 vCPUs at Normal have 2x1000 = 2000
        ("vm", "cpu", "high", 4000),
        ("vm", "memory", "low", 5120),
        ("vm", "memory", "normal", 10240),  # the guide: 1 GB at Normal has 10x1024 = 10240
        ("vm", "memory", "high", 20480),
        ("pool", "cpu", "low", 2000),
        ("pool", "cpu", "normal", 4000),
        ("pool", "cpu", "high", 8000),
        ("pool", "memory", "low", 81920),
        ("pool", "memory", "normal", 163840),
        ("pool", "memory", "high", 327680),
    ],
)
def test_share_values_follow_vspheres_table(kind, resource, level, expected):
    assert share_value(kind, resource, level, vcpus=2, memory_mb=1024) == expected


def test_custom_shares_keep_their_value_and_need_one():
    assert share_value("vm", "memory", "custom", memory_mb=1024, custom=777) == 777
    assert share_value("pool", "cpu", "custom", custom=5) == 5
    for custom in (None, 0, -3):
        with pytest.raises(ValueError, match="positive"):
            share_value("pool", "cpu", "custom", custom=custom)
    with pytest.raises(ValueError, match="unknown shares level"):
        share_value("vm", "cpu", "extreme", vcpus=1)
    with pytest.raises(ValueError, match="vCPUs"):
        share_value("vm", "cpu", "normal")


def test_share_percentages_count_every_child_unless_asked_for_running_ones():
    tree = Tree().pool("RP").pool("KID", "RP", cpu=Allocation(shares_level="high"))
    tree.vm("off", "RP", vcpus=4, cpu=Allocation(shares_level="custom", shares=8000))
    tree.vm("on", "RP", on=True, vcpus=2)  # normal: 2000
    snap = tree.snapshot()

    rows = share_percentages(snap, pool_id(snap, "RP"), "cpu")
    running = share_percentages(snap, pool_id(snap, "RP"), "cpu", powered_on_only=True)

    assert [(r.kind, r.name, r.level, r.shares, r.percent) for r in rows] == [
        ("pool", "KID", "high", 8000, 44.44444444444444),
        ("vm", "off", "custom", 8000, 44.44444444444444),
        ("vm", "on", "normal", 2000, 11.11111111111111),
    ]
    assert [(r.name, r.percent) for r in running] == [("KID", 80.0), ("on", 20.0)]
    assert share_percentages(snap, pool_id(snap, "KID"), "cpu") == []


# --------------------------------------------------------------------------- field validation


def test_a_valid_allocation_has_no_field_errors():
    assert validate_allocation(Allocation(), "memory") == {}
    assert (
        validate_allocation(
            Allocation(1024, 1024, False, "custom", 10), "memory", configured_memory_mb=1024
        )
        == {}
    )
    assert validate_allocation(Allocation(0, 0), "cpu") == {}  # a limit of 0 is a limit


@pytest.mark.parametrize(
    ("alloc", "field", "text"),
    [
        (Allocation(reservation=-1), "reservation", "cannot be negative"),
        (Allocation(reservation=1.5), "reservation", "whole number"),
        (Allocation(reservation=2048, limit=1024), "limit", "at least the reservation (2048 MB)"),
        (Allocation(limit=-2), "limit", "-1 (unlimited)"),
        (Allocation(shares_level="extreme"), "shares_level", "Unknown shares level"),
        (Allocation(shares_level="custom"), "shares", "positive"),
        (Allocation(shares_level="custom", shares=-5), "shares", "positive"),
        # What a database column holds (an xsd:long from the vSphere API could be larger).
        (Allocation(reservation=2**31), "reservation", "at most 2147483647"),
        (Allocation(limit=2**63), "limit", "at most 2147483647"),
        (Allocation(shares_level="custom", shares=2**31), "shares", "at most 2147483647"),
        (
            Allocation(reservation=4097),
            "reservation",
            "cannot exceed the configured memory (4096 MB)",
        ),
    ],
)
def test_bad_allocation_values_get_field_errors(alloc, field, text):
    errors = validate_allocation(alloc, "memory", configured_memory_mb=4096)

    assert list(errors) == [field]
    assert text in errors[field]


def test_creating_a_pool_with_bad_values_is_refused_with_field_errors():
    snap = Tree().snapshot()

    decision = check_create_pool(
        snap, snap.root_id, cpu=Allocation(-5), memory=Allocation(shares_level="custom")
    )

    assert (decision.admitted, decision.fault) == (False, INVALID_ARGUMENT)
    assert set(decision.fields) == {"cpu_reservation", "memory_shares"}
