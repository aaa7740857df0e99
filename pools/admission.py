"""Admission control over one host's resource pool tree: may this happen, and if not, why.

Pure rules over a snapshot made of plain frozen dataclasses (no ORM, no Django), so that
`pools.services` can decide on the rows it has locked and tests run without a database.

Accounting, per resource: CPU in MHz, memory in MB. The formulas come from DESIGN section 5,
vSphere Resource Management "DRS Cluster Validity" and the API's ResourcePoolResourceUsage:

    used(p) = sum of eff(c) over child pools c + sum of R(v) over powered-on child VMs v
    eff(p)  = max(R(p), used(p))
    unreserved(fixed p)      = R(p) - used(p)                        (the root is always fixed)
    unreserved(expandable p) = min(max(0, R(p) - used(p)) + unreserved(parent),
                                   L(p) - used(p) if p has a limit)

An operation is admitted when afterwards every limit is >= its reservation, every fixed pool has
used <= R, every limited pool has eff <= L, and no VM reserves more memory than it is configured
with. Every check_* function works the same way: apply the change to a copy of the snapshot,
list the violations of the whole tree, and refuse when one of them is new (see `_decide`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields

from pools.shares import SHARE_LEVELS
from pools.tree import (  # the tree type; re-exported, as callers have always imported it here
    NEW_POOL_ALLOCATION,
    UNLIMITED,
    VM_DEFAULT_ALLOCATION,
    Allocation,
    NodeId,
    PoolNode,
    TreeSnapshot,
    VmNode,
)

__all__ = [
    "NEW_POOL_ALLOCATION",
    "UNLIMITED",
    "VM_DEFAULT_ALLOCATION",
    "Allocation",
    "NodeId",
    "PoolNode",
    "TreeSnapshot",
    "VmNode",
]

RESOURCES = ("cpu", "memory")
ALLOCATION_PARTS = tuple(part.name for part in dataclass_fields(Allocation))  # reservation, ...
UNITS = {"cpu": "MHz", "memory": "MB"}
RESOURCE_LABELS = {"cpu": "CPU", "memory": "memory"}

INSUFFICIENT_RESOURCES = "InsufficientResourcesFault"  # vim.fault.InsufficientResourcesFault
INVALID_ARGUMENT = "InvalidArgument"  # vmodl.fault.InvalidArgument

# Violation kinds. The first two are capacity problems (InsufficientResourcesFault); the others
# are allocations that are invalid whatever the rest of the tree holds (InvalidArgument).
FIXED_RESERVATION_EXCEEDED = "fixed_reservation_exceeded"  # fixed pool: used > R
LIMIT_EXCEEDED = "limit_exceeded"  # limited pool: eff > L
LIMIT_BELOW_RESERVATION = "limit_below_reservation"
NEGATIVE_RESERVATION = "negative_reservation"
RESERVATION_ABOVE_MEMORY = "reservation_above_memory"  # VM memory reservation > configured memory
CAPACITY_KINDS = (FIXED_RESERVATION_EXCEEDED, LIMIT_EXCEEDED)


# --------------------------------------------------------------------------- accounting


@dataclass(frozen=True)
class _Account:
    """Per-pool figures for one resource."""

    used: dict[NodeId, int]
    eff: dict[NodeId, int]
    used_for_vm: dict[NodeId, int]
    unreserved: dict[NodeId, int]  # may be < 0 where the tree is already overcommitted
    max_usage: dict[NodeId, int]


def _account(snapshot: TreeSnapshot, resource: str) -> _Account:
    order = snapshot.preorder()
    used: dict[NodeId, int] = {}
    eff: dict[NodeId, int] = {}
    used_for_vm: dict[NodeId, int] = {}
    for pool_id in reversed(order):  # children before parents
        children = snapshot.child_pools(pool_id)
        vm_part = sum(
            vm.alloc(resource).reservation for vm in snapshot.child_vms(pool_id) if vm.powered_on
        )
        used[pool_id] = sum(eff[child.id] for child in children) + vm_part
        used_for_vm[pool_id] = vm_part + sum(used_for_vm[child.id] for child in children)
        eff[pool_id] = max(snapshot.pools[pool_id].alloc(resource).reservation, used[pool_id])

    unreserved: dict[NodeId, int] = {}
    max_usage: dict[NodeId, int] = {}
    for pool_id in order:  # parents before children
        pool = snapshot.pools[pool_id]
        alloc = pool.alloc(resource)
        own = alloc.reservation - used[pool_id]
        if snapshot.is_fixed(pool_id, resource):
            available = own
        else:
            # What an overcommitted parent lacks is its own problem: it cannot lend, but it does
            # not eat into this pool's own slack either. In a valid tree the parent's figure is
            # >= 0 and this is exactly DESIGN's formula.
            available = max(0, own) + max(0, unreserved[pool.parent_id])
        if alloc.limited:
            available = min(available, alloc.limit - used[pool_id])
        unreserved[pool_id] = available

        # ResourcePoolResourceUsage.maxUsage: "based on the limit configured on this resource
        # pool, as well as limits configured on any parent resource pool". The root's ceiling is
        # its limit, or its reservation (the host's capacity) when it has none.
        if pool.parent_id is None:
            ceiling = alloc.limit if alloc.limited else alloc.reservation
        else:
            ceiling = max_usage[pool.parent_id]
            if alloc.limited:
                ceiling = min(ceiling, alloc.limit)
        max_usage[pool_id] = ceiling
    return _Account(used, eff, used_for_vm, unreserved, max_usage)


def runtime(snapshot: TreeSnapshot) -> dict[NodeId, dict[str, dict[str, int]]]:
    """ResourcePoolRuntimeInfo per pool: {pool_id: {"cpu": {...}, "memory": {...}}}.

    Each resource holds the ResourcePoolResourceUsage fields we model (memory in MB, not the
    API's bytes):
    - reservationUsed: used(p), reservations of child pools (eff) and powered-on child VMs;
    - reservationUsedForVm: reservations of the powered-on VMs in this pool or any pool below it
      (the API's wording: "running virtual machines in this resource pool or any of its child
      resource pools");
    - unreservedForPool, unreservedForVm: unreserved(p), what a new child pool or VM could still
      reserve here; never below 0. The API says they differ only in an overcommitted tree,
      where its dynamic capacity check holds VMs back; our admission control never lets a tree
      get overcommitted (and refuses anything that worsens one it is given), so they are equal;
    - maxUsage: the smallest limit on the path to the root, the root's capacity included.
    """
    accounts = {resource: _account(snapshot, resource) for resource in RESOURCES}
    return {
        pool_id: {
            resource: {
                "reservationUsed": account.used[pool_id],
                "reservationUsedForVm": account.used_for_vm[pool_id],
                "unreservedForPool": max(0, account.unreserved[pool_id]),
                "unreservedForVm": max(0, account.unreserved[pool_id]),
                "maxUsage": account.max_usage[pool_id],
            }
            for resource, account in accounts.items()
        }
        for pool_id in snapshot.preorder()
    }


# --------------------------------------------------------------------------- validity


@dataclass(frozen=True)
class Violation:
    """One broken rule: `excess` is by how much (MB or MHz)."""

    kind: str
    entity: str  # "pool" | "vm"
    id: NodeId
    name: str
    resource: str
    excess: int

    @property
    def key(self) -> tuple[str, str, NodeId, str]:
        return (self.kind, self.entity, self.id, self.resource)


def violations(snapshot: TreeSnapshot) -> list[Violation]:
    """Every rule the tree breaks, pools in preorder then VMs; empty for a valid tree."""
    found: list[Violation] = []
    for resource in RESOURCES:
        account = _account(snapshot, resource)
        for pool_id in snapshot.preorder():
            pool = snapshot.pools[pool_id]
            alloc = pool.alloc(resource)
            broken = _allocation_violations(alloc)
            used, eff = account.used[pool_id], account.eff[pool_id]
            if snapshot.is_fixed(pool_id, resource) and used > alloc.reservation:
                # A limit (>= R) on a fixed pool can only be exceeded when R is: report R.
                broken.append((FIXED_RESERVATION_EXCEEDED, used - alloc.reservation))
            elif alloc.limited and alloc.limit >= alloc.reservation and eff > alloc.limit:
                broken.append((LIMIT_EXCEEDED, eff - alloc.limit))
            found += [
                Violation(kind, "pool", pool.id, pool.name, resource, excess)
                for kind, excess in broken
            ]
        for vm in snapshot.vms.values():
            alloc = vm.alloc(resource)
            broken = _allocation_violations(alloc)
            if resource == "memory" and alloc.reservation > vm.memory_mb:
                broken.append((RESERVATION_ABOVE_MEMORY, alloc.reservation - vm.memory_mb))
            found += [
                Violation(kind, "vm", vm.id, vm.name, resource, excess) for kind, excess in broken
            ]
    return found


def _allocation_violations(alloc: Allocation) -> list[tuple[str, int]]:
    broken = []
    if alloc.reservation < 0:
        broken.append((NEGATIVE_RESERVATION, -alloc.reservation))
    if alloc.limited and alloc.limit < alloc.reservation:
        broken.append((LIMIT_BELOW_RESERVATION, alloc.reservation - alloc.limit))
    return broken


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MAX_AMOUNT = 2**31 - 1  # the largest reservation, limit or share count a database column holds


def validate_allocation(
    alloc: Allocation, resource: str, *, configured_memory_mb: int | None = None
) -> dict[str, str]:
    """Field errors of one allocation, keyed by Allocation field name; empty when it is valid.

    Pass `configured_memory_mb` for a VM's memory allocation: its reservation cannot exceed it.
    """
    if resource not in UNITS:
        raise ValueError(f"unknown resource {resource!r}: expected 'cpu' or 'memory'")
    unit = UNITS[resource]
    errors: dict[str, str] = {}
    reservation_ok = _is_whole(alloc.reservation) and alloc.reservation >= 0
    if not _is_whole(alloc.reservation):
        errors["reservation"] = f"Reservation must be a whole number of {unit}."
    elif alloc.reservation < 0:
        errors["reservation"] = "Reservation cannot be negative."
    elif alloc.reservation > MAX_AMOUNT:
        errors["reservation"] = f"Reservation must be at most {MAX_AMOUNT} {unit}."
    elif (
        configured_memory_mb is not None
        and resource == "memory"
        and alloc.reservation > configured_memory_mb
    ):
        errors["reservation"] = (
            f"Memory reservation ({alloc.reservation} MB) cannot exceed the configured memory "
            f"({configured_memory_mb} MB)."
        )
    if not _is_whole(alloc.limit):
        errors["limit"] = f"Limit must be a whole number of {unit}, or -1 for unlimited."
    elif alloc.limit > MAX_AMOUNT:
        errors["limit"] = f"Limit must be -1 (unlimited) or at most {MAX_AMOUNT} {unit}."
    elif alloc.limit != UNLIMITED and (
        alloc.limit < 0 or (reservation_ok and alloc.limit < alloc.reservation)
    ):
        floor = f" ({alloc.reservation} {unit})" if reservation_ok else ""
        errors["limit"] = f"Limit must be -1 (unlimited) or at least the reservation{floor}."
    if not isinstance(alloc.expandable, bool):
        errors["expandable"] = "Expandable reservation must be true or false."
    if alloc.shares_level not in SHARE_LEVELS:
        errors["shares_level"] = (
            f"Unknown shares level {alloc.shares_level!r}: choose low, normal, high or custom."
        )
    elif alloc.shares_level == "custom" and not (
        _is_whole(alloc.shares) and 0 < alloc.shares <= MAX_AMOUNT
    ):
        errors["shares"] = (
            f"Custom shares need a positive whole number of shares, at most {MAX_AMOUNT}."
        )
    return errors


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    """The answer of one check. On refusal:

    - fault: INSUFFICIENT_RESOURCES for capacity, INVALID_ARGUMENT for bad values or moves;
    - pool_id / pool_name: the pool whose fixed reservation or limit would be exceeded (where
      borrowing stops); for a capacity refusal only;
    - resource: "cpu" | "memory" (None for a refused move or deletion);
    - requested / unreserved: InsufficientResourcesFault's figures, seen from the pool the
      operation asks (the VM's or pool's parent, or the move's target): what the operation asks
      it for, and what it had unreserved before (its unreservedForVm / unreservedForPool);
    - fields: field errors, keyed by model field name: "cpu_limit", "memory_reservation",
      "memory_mb", ... (see allocation_errors);
    - message: one sentence for a person.
    """

    admitted: bool
    fault: str | None = None
    message: str = ""
    pool_id: NodeId | None = None
    pool_name: str | None = None
    resource: str | None = None
    requested: int | None = None
    unreserved: int | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


ADMITTED = Decision(admitted=True)


class _NewPool:
    """Id of a pool that check_create_pool places in the tree to see what it would do."""

    def __repr__(self) -> str:
        return "<new pool>"


NEW_POOL_ID = _NewPool()


def _invalid(
    message: str, fields: Mapping[str, str] | None = None, resource: str | None = None
) -> Decision:
    return Decision(
        admitted=False,
        fault=INVALID_ARGUMENT,
        message=message,
        resource=resource,
        fields=dict(fields or {}),
    )


def allocation_errors(
    cpu: Allocation, memory: Allocation, *, configured_memory_mb: int | None = None
) -> dict[str, str]:
    """Field errors of both allocations, keyed as the models name the fields: "<resource>_<part>"
    ("cpu_limit", "memory_reservation", "memory_shares_level")."""
    errors = {}
    for resource, alloc in (("cpu", cpu), ("memory", memory)):
        configured = configured_memory_mb if resource == "memory" else None
        found = validate_allocation(alloc, resource, configured_memory_mb=configured)
        errors.update({f"{resource}_{name}": text for name, text in found.items()})
    return errors


def _refuse_fields(subject: str, errors: Mapping[str, str]) -> Decision:
    prefix, _, part = next(iter(errors)).partition("_")
    # memory_mb is a field error but no allocation's: it names no resource
    resource = prefix if prefix in RESOURCES and part in ALLOCATION_PARTS else None
    return _invalid(
        f"Invalid settings for {subject}: " + " ".join(errors.values()), errors, resource
    )


def _amount(value: int, resource: str) -> str:
    return f"{value} {UNITS[resource]}"


def _decide(
    before: TreeSnapshot,
    after: TreeSnapshot,
    *,
    asked_pool_id: NodeId,
    own_pool_id: NodeId | None = None,
) -> Decision:
    """Admit unless `after` breaks a rule that `before` did not (or breaks it by more).

    Comparing with `before` keeps a tree that is already overcommitted (the host lost memory)
    workable: powering off and lowering reservations are still admitted, anything that takes
    more from the overcommitted pool is not. For a valid `before` this is exactly "admitted
    only if afterwards everything is valid".

    `asked_pool_id` is the pool the operation asks for resources (the parent of the changed VM
    or pool, or a move's target); `own_pool_id` a pool whose own settings changed. The reported
    violation is the one nearest to them: the pool itself, then the asked pool and up to the root.
    """
    previous = {violation.key: violation.excess for violation in violations(before)}
    new = [v for v in violations(after) if v.excess > previous.get(v.key, 0)]
    if not new:
        return ADMITTED

    path = [pool.id for pool in after.ancestors(asked_pool_id, include_self=True)]
    if own_pool_id is not None:
        path.insert(0, own_pool_id)
    nearness = {pool_id: rank for rank, pool_id in reversed(list(enumerate(path)))}
    elsewhere = len(path)
    preorder = {pool_id: index for index, pool_id in enumerate(after.preorder())}

    def distance(violation: Violation) -> tuple[int, int, int, int]:
        capacity = violation.kind in CAPACITY_KINDS
        if violation.entity == "vm":
            place = (-1, 0)
        else:
            place = (nearness.get(violation.id, elsewhere), preorder[violation.id])
        return (int(capacity), *place, RESOURCES.index(violation.resource))

    violation = min(new, key=distance)
    resource = violation.resource
    label = RESOURCE_LABELS[resource]
    if violation.kind not in CAPACITY_KINDS:
        message = {
            NEGATIVE_RESERVATION: f'The {label} reservation of "{violation.name}" is negative.',
            LIMIT_BELOW_RESERVATION: (
                f'The {label} limit of "{violation.name}" is below its reservation.'
            ),
            RESERVATION_ABOVE_MEMORY: (
                f'The memory reservation of "{violation.name}" exceeds its configured memory.'
            ),
        }[violation.kind]
        return _invalid(message, resource=resource)

    refuser = after.pools[violation.id]
    alloc = refuser.alloc(resource)
    after_account = _account(after, resource)
    if violation.id == own_pool_id:
        # The pool's own new settings no longer cover what its children already reserve.
        used = after_account.used[violation.id]
        if violation.kind == FIXED_RESERVATION_EXCEEDED:
            offered = alloc.reservation
            message = (
                f'Insufficient resources to satisfy configured reservation: "{refuser.name}" '
                f"would have a fixed {label} reservation of {_amount(offered, resource)}, "
                f"but its children already reserve {_amount(used, resource)}"
            )
        else:
            offered = alloc.limit
            message = (
                f'Insufficient resources: the {label} limit of "{refuser.name}" '
                f"({_amount(offered, resource)}) is below the {_amount(used, resource)} "
                f"its children already reserve"
            )
        return Decision(
            admitted=False,
            fault=INSUFFICIENT_RESOURCES,
            message=message,
            pool_id=refuser.id,
            pool_name=refuser.name,
            resource=resource,
            requested=used,
            unreserved=offered,
        )

    before_account = _account(before, resource)
    asked = before.pools[asked_pool_id]
    requested = after_account.used[asked_pool_id] - before_account.used[asked_pool_id]
    unreserved = max(0, before_account.unreserved[asked_pool_id])
    message = (
        f'Insufficient resources to satisfy configured reservation: "{asked.name}" has '
        f"{_amount(unreserved, resource)} unreserved {label}, "
        f"the operation needs {_amount(requested, resource)}"
    )
    if violation.kind == LIMIT_EXCEEDED:
        message += (
            f' (capped by the {label} limit of "{refuser.name}", {_amount(alloc.limit, resource)})'
        )
    elif refuser.id != asked_pool_id:
        message += f' (borrowing stops at "{refuser.name}", whose {label} reservation is fixed)'
    return Decision(
        admitted=False,
        fault=INSUFFICIENT_RESOURCES,
        message=message,
        pool_id=refuser.id,
        pool_name=refuser.name,
        resource=resource,
        requested=requested,
        unreserved=unreserved,
    )


def check_power_on(snapshot: TreeSnapshot, vm_id: NodeId) -> Decision:
    """Power-on reserves the VM's reservations in its pool, borrowing up expandable pools."""
    vm = snapshot.vms[vm_id]
    after = snapshot.with_vms(replace(vm, powered_on=True))
    return _decide(snapshot, after, asked_pool_id=vm.pool_id)


def check_power_off(snapshot: TreeSnapshot, vm_id: NodeId) -> Decision:
    """Always admitted: a powered-off VM reserves nothing."""
    if vm_id not in snapshot.vms:  # a caller's bug, as in every other check
        raise KeyError(vm_id)
    return ADMITTED


def check_create_pool(
    snapshot: TreeSnapshot,
    parent_id: NodeId,
    cpu: Allocation = NEW_POOL_ALLOCATION,
    memory: Allocation = NEW_POOL_ALLOCATION,
    *,
    name: str = "New Resource Pool",
) -> Decision:
    """A new pool's reservation counts against its parent even while it holds nothing."""
    if parent_id not in snapshot.pools:
        raise KeyError(parent_id)
    errors = allocation_errors(cpu, memory)
    if errors:
        return _refuse_fields(f'"{name}"', errors)
    after = snapshot.with_pools(PoolNode(NEW_POOL_ID, name, parent_id, cpu, memory))
    return _decide(snapshot, after, asked_pool_id=parent_id)


def check_reconfigure_pool(
    snapshot: TreeSnapshot,
    pool_id: NodeId,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> Decision:
    """New allocations for a pool (None keeps one as it is).

    Raising a reservation asks the parent for the growth of eff(p), i.e. only what the pool did
    not already borrow; lowering a fixed reservation or a limit below what the children reserve
    is refused by the pool itself. The root may be reconfigured too (its allocation is the
    host's capacity): it is fixed, whatever its expandable flag says.
    """
    pool = snapshot.pools[pool_id]
    changed = replace(
        pool,
        cpu=pool.cpu if cpu is None else cpu,
        memory=pool.memory if memory is None else memory,
    )
    errors = allocation_errors(changed.cpu, changed.memory)
    if errors:
        return _refuse_fields(f'"{pool.name}"', errors)
    after = snapshot.with_pools(changed)
    asked = pool.parent_id if pool.parent_id is not None else pool_id
    return _decide(snapshot, after, asked_pool_id=asked, own_pool_id=pool_id)


def check_reconfigure_vm(
    snapshot: TreeSnapshot,
    vm_id: NodeId,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    memory_mb: int | None = None,
) -> Decision:
    """New allocations or configured memory for a VM (None keeps a value as it is).

    A powered-off VM reserves nothing, so only validity is checked; a powered-on one is
    re-admitted with its new reservations (the increase is what its pool is asked for).
    """
    vm = snapshot.vms[vm_id]
    changed = replace(
        vm,
        cpu=vm.cpu if cpu is None else cpu,
        memory=vm.memory if memory is None else memory,
        memory_mb=vm.memory_mb if memory_mb is None else memory_mb,
    )
    if not (_is_whole(changed.memory_mb) and changed.memory_mb > 0):
        return _refuse_fields(
            f'"{vm.name}"', {"memory_mb": "Memory size must be a positive whole number of MB."}
        )
    errors = allocation_errors(changed.cpu, changed.memory, configured_memory_mb=changed.memory_mb)
    if errors:
        return _refuse_fields(f'"{vm.name}"', errors)
    return _decide(snapshot, snapshot.with_vms(changed), asked_pool_id=vm.pool_id)


def check_move(
    snapshot: TreeSnapshot,
    target_pool_id: NodeId,
    vm_ids: Iterable[NodeId] = (),
    pool_ids: Iterable[NodeId] = (),
) -> Decision:
    """MoveIntoResourcePool: the VMs and pools leave their parents and are admitted to the target.

    VMs keep their allocations (and so their share values; their percentages become relative to
    the new siblings). Refused: the root, a pool into itself or a pool below it, and anything not
    in this snapshot (moving across hosts is not supported).
    """
    target = snapshot.pools[target_pool_id]
    vm_ids, pool_ids = list(dict.fromkeys(vm_ids)), list(dict.fromkeys(pool_ids))
    missing = [f"VM {vm_id!r}" for vm_id in vm_ids if vm_id not in snapshot.vms]
    missing += [f"pool {pool_id!r}" for pool_id in pool_ids if pool_id not in snapshot.pools]
    if missing:
        return _invalid(
            f'Cannot move {", ".join(missing)} into "{target.name}": not on this host '
            "(moving across hosts is not supported)."
        )
    for pool_id in pool_ids:
        pool = snapshot.pools[pool_id]
        if pool_id == snapshot.root_id:
            return _invalid(f'The root resource pool "{pool.name}" cannot be moved.')
        if pool_id == target_pool_id or target_pool_id in {
            p.id for p in snapshot.descendants(pool_id)
        }:
            return _invalid(
                f'Cannot move "{pool.name}" into "{target.name}": a resource pool cannot move '
                "into itself or into a pool below it."
            )
    moved_vms = [replace(snapshot.vms[vm_id], pool_id=target_pool_id) for vm_id in vm_ids]
    moved_pools = [replace(snapshot.pools[p], parent_id=target_pool_id) for p in pool_ids]
    after = snapshot.with_pools(*moved_pools).with_vms(*moved_vms)
    return _decide(snapshot, after, asked_pool_id=target_pool_id)


def check_delete_pool(snapshot: TreeSnapshot, pool_id: NodeId) -> Decision:
    """Deleting a pool hands its VMs and child pools to its parent; the root cannot go.

    The parent's use can only shrink (eff(p) >= used(p) covered the children), so this is
    admitted for any valid tree; it is still checked like every other change.
    """
    pool = snapshot.pools[pool_id]
    if pool.parent_id is None:
        return _invalid(f'The root resource pool "{pool.name}" cannot be deleted.')
    orphans = [replace(child, parent_id=pool.parent_id) for child in snapshot.child_pools(pool_id)]
    vms = [replace(vm, pool_id=pool.parent_id) for vm in snapshot.child_vms(pool_id)]
    after = snapshot.with_pools(*orphans).with_vms(*vms).without_pool(pool_id)
    return _decide(snapshot, after, asked_pool_id=pool.parent_id)
