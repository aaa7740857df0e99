"""The only way to change pools, VM allocations, pool membership and power state.

Every verb is two functions (after Zulip's check_* / do_* actions):
- `check_<verb>(tree, current rows, request)` may refuse: it raises the typed errors of
  pools.errors (AdmissionDenied, InvalidOperation and its subclasses) and writes nothing. It judges
  on `tree`, the host's snapshot read under the host's lock, and on rows re-read under that lock;
  the admin's forms call it to show a refusal on the field it concerns;
- `<verb>(...)` does it:
  1. opens a transaction and locks the host's root pool (PostgreSQL SELECT ... FOR UPDATE),
     before any other row. The root heads every pool chain of the host, so every create, change,
     move, delete and power operation there queues on this one lock, in one order, and none can
     deadlock another;
  2. re-reads, under the lock, what the caller handed in: it may have been deleted meanwhile
     (ManagedObjectNotFound, a 404) or moved or powered on (decided on its current state); then
     reads the snapshot and calls check_<verb>, having written nothing if it refuses;
  3. writes, bumps the config versions the simulation reads on its next tick, and after commit
     announces the change to the dashboard.
So concurrent requests end as some serial order of them would have ended, never in a 500.

Refusals name the fields they concern by model field name ("memory_mb", "memory_reservation",
"cpu_shares_level"): the admin's forms use them as they are, the JSON API maps them through its
serializers' `source`s (dashboard.api.serializers.API_FIELD_PATHS).
"""

import copy
from dataclasses import replace

from django.db import IntegrityError, transaction
from django.db.models import F

from hostsim import engine
from hostsim.models import NAME_MAX_LENGTH, Host, PowerState, VirtualMachine
from pools import admission
from pools.admission import Allocation, Decision, PoolNode, TreeSnapshot, VmNode
from pools.errors import (
    AdmissionDenied,
    DuplicateName,
    InvalidOperation,
    InvalidPowerState,
    ManagedObjectNotFound,
)
from pools.models import ResourcePool
from pools.shares import share_value
from pools.signals import inventory_changed
from pools.tree import simulation_document

RESOURCES = admission.RESOURCES  # ("cpu", "memory"); the model fields are "<resource>_<part>"


def capacity_for_vms(host: Host) -> dict[str, int]:
    """What the root pool may hand out: the host's capacity less what the VMkernel keeps (the
    engine's model, so what admission promises is what the simulation has)."""
    vmkernel_mb = engine.vmkernel_reserved_mb(host.memory_mb)
    return {"cpu": host.cpu_mhz, "memory": max(0, host.memory_mb - vmkernel_mb)}


# --- reading the tree -------------------------------------------------------------------------


def allocation_of(entity: ResourcePool | VirtualMachine, resource: str) -> Allocation:
    """One resource's allocation of a pool or VM, from its fields cpu_* or memory_*."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}: expected 'cpu' or 'memory'")
    return Allocation(
        reservation=getattr(entity, f"{resource}_reservation"),
        limit=getattr(entity, f"{resource}_limit"),
        expandable=getattr(entity, f"{resource}_expandable", False),  # pools only
        shares_level=getattr(entity, f"{resource}_shares_level"),
        shares=getattr(entity, f"{resource}_shares"),
    )


def _pool_node(pool: ResourcePool) -> PoolNode:
    return PoolNode(
        pool.pk,
        pool.name,
        pool.parent_id,
        allocation_of(pool, "cpu"),
        allocation_of(pool, "memory"),
    )


def _vm_node(vm: VirtualMachine) -> VmNode:
    return VmNode(
        vm.pk,
        vm.name,
        vm.resource_pool_id,
        vm.powered_on,
        vm.vcpus,
        vm.memory_mb,
        allocation_of(vm, "cpu"),
        allocation_of(vm, "memory"),
    )


def snapshot(host_id: int) -> TreeSnapshot:
    """The host's tree as plain data for pools.admission (no locks: for reading).

    Raises ValueError if the host has no tree (deleted meanwhile, or never given a root pool).
    """
    pools = [_pool_node(p) for p in ResourcePool.objects.filter(host_id=host_id)]
    vms = [
        _vm_node(v)
        for v in VirtualMachine.objects.filter(host_id=host_id, resource_pool__isnull=False)
    ]
    return TreeSnapshot.build(pools, vms)


def runtime(host_id: int) -> dict[int, dict]:
    """ResourcePoolRuntimeInfo for every pool of the host; empty for a host deleted meanwhile
    (a listing that read its pools a moment before)."""
    try:
        return admission.runtime(snapshot(host_id))
    except ValueError:
        if Host.objects.filter(pk=host_id).exists():
            raise
        return {}


def _lock_host_tree(host_id: int) -> ResourcePool:
    """Step 1 of every change: lock the host's root pool, the first lock the change takes."""
    root = ResourcePool.objects.select_for_update().filter(host_id=host_id, is_root=True).first()
    if root is None:
        raise ManagedObjectNotFound("The host no longer exists (deleted meanwhile).")
    return root


def _locked_snapshot(host_id: int) -> TreeSnapshot:
    """Lock the host's tree (root pool first), then read it: no change can come in between."""
    _lock_host_tree(host_id)
    return snapshot(host_id)


def _current(model, pk: int, label: str, *, related: tuple[str, ...] = ()):
    """The row as committed now (call under the host's lock): the caller's copy may be stale."""
    obj = model.objects.select_related(*related).filter(pk=pk).first()
    if obj is None:
        raise ManagedObjectNotFound(f"{label} no longer exists (deleted meanwhile).")
    return obj


def _label(obj: Host | ResourcePool | VirtualMachine) -> str:
    if isinstance(obj, ResourcePool):
        return f'The resource pool "{obj.name}"'
    return f'The VM "{obj.name}"'


def _locked_host(host: Host) -> Host:
    """The host's row, locked after its tree (the one order every change takes locks in)."""
    locked_host = Host.objects.select_for_update().filter(pk=host.pk).first()
    if locked_host is None:
        raise ManagedObjectNotFound(f'The host "{host.name}" no longer exists (deleted meanwhile).')
    return locked_host


def locked(obj, *, related: tuple[str, ...] = ()):
    """Steps 1 and 2 of every change: lock the tree of the host of `obj` (a host, pool or VM),
    then read the tree and `obj` as committed now (a host's row is locked too).

    Answers (tree, current row), what the check_* functions judge on. Inside a transaction the
    lock lasts until it ends, so a check made here still holds when the change is written.
    """
    if isinstance(obj, Host):
        tree = _locked_snapshot(obj.pk)
        return tree, _locked_host(obj)
    tree = _locked_snapshot(obj.host_id)
    return tree, _current(type(obj), obj.pk, _label(obj), related=related)


def _enforce(decision: Decision) -> None:
    if decision.admitted:
        return
    if decision.fault == admission.INSUFFICIENT_RESOURCES:
        raise AdmissionDenied(
            decision.message,
            pool=decision.pool_name or "",
            resource=decision.resource or "",
            requested=decision.requested or 0,
            unreserved=decision.unreserved or 0,
        )
    raise InvalidOperation(decision.message, dict(decision.fields))


def _publish_tree(host_id: int) -> None:
    """Hand the host's tree to the simulation when it changed: Host.resource_tree, with a new
    host config version, which the runtime applies at its next tick (hostsim never reads pools)."""
    try:
        document = simulation_document(snapshot(host_id))
    except ValueError:  # the host went with this change (delete_host): nothing to simulate
        return
    changed = Host.objects.filter(pk=host_id).exclude(resource_tree=document)
    changed.update(resource_tree=document, config_version=F("config_version") + 1)


def _announce(host_id: int) -> None:
    """Step 3 of every change: the simulation gets the new tree, and after commit the
    dashboard hears of the change."""
    _publish_tree(host_id)
    transaction.on_commit(lambda: inventory_changed.send(sender=ResourcePool, host_id=host_id))


def _write_allocation(
    entity, resource: str, alloc: Allocation, *, vcpus=None, memory_mb=None
) -> None:
    kind = "pool" if isinstance(entity, ResourcePool) else "vm"
    setattr(entity, f"{resource}_reservation", alloc.reservation)
    setattr(entity, f"{resource}_limit", alloc.limit)
    setattr(entity, f"{resource}_shares_level", alloc.shares_level)
    setattr(
        entity,
        f"{resource}_shares",
        share_value(
            kind,
            resource,
            alloc.shares_level,
            vcpus=vcpus,
            memory_mb=memory_mb,
            custom=alloc.shares,
        ),
    )
    if kind == "pool":
        setattr(entity, f"{resource}_expandable", alloc.expandable)


def _check_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidOperation("A name is required.", {field: "This field is required."})
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidOperation(
            f"Names are at most {NAME_MAX_LENGTH} characters.",
            {field: f"Ensure this value has at most {NAME_MAX_LENGTH} characters."},
        )
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        raise InvalidOperation(
            "Names cannot contain control characters.",
            {field: "Names cannot contain control characters."},
        )
    return name


# --- hosts ---------------------------------------------------------------------------------------


def ensure_root_pool(host: Host) -> ResourcePool:
    """The host's fixed root pool, whose reservation and limit follow its capacity for VMs."""
    capacity = capacity_for_vms(host)
    root = ResourcePool.objects.filter(host=host, is_root=True).first()
    if root is None:
        root = ResourcePool(host=host, is_root=True, name="Resources")
    for resource in RESOURCES:
        fixed = Allocation(
            reservation=capacity[resource], limit=capacity[resource], expandable=False
        )
        _write_allocation(root, resource, fixed)
    root.save()
    VirtualMachine.objects.filter(host=host, resource_pool__isnull=True).update(resource_pool=root)
    return root


def _save_host(host: Host) -> None:
    """Save, refusing a name that a concurrent request took after full_clean checked it."""
    try:
        with transaction.atomic():  # a savepoint: the unique index refuses, the rest stays usable
            host.save()
    except IntegrityError:
        if not Host.objects.filter(name=host.name).exclude(pk=host.pk).exists():
            raise
        raise DuplicateName(
            f'A host named "{host.name}" already exists.',
            {"name": "Host with this Name already exists."},
            name=host.name,
        ) from None


def _own_settings(current: dict, changes: dict) -> dict:
    """The host's advanced settings after `changes`, keeping only what differs from ESXi's
    defaults (a setting the engine gains later then starts at its default everywhere)."""
    defaults = engine.default_settings()
    merged = {**current, **changes}
    return {name: value for name, value in merged.items() if defaults.get(name, object()) != value}


@transaction.atomic
def create_host(**fields) -> Host:
    fields["advanced_settings"] = _own_settings({}, fields.get("advanced_settings") or {})
    host = Host(**fields)
    host.full_clean()
    _save_host(host)
    ensure_root_pool(host)
    _announce(host.pk)
    return host


HARDWARE_FIELDS = (
    "memory_mb",
    "cpu_mhz",
    "hardware_mmu",
    "seed",
)  # the simulation rebuilds the host


def _running_vm_names(host: Host) -> list[str]:
    return list(
        VirtualMachine.objects.filter(host=host, power_state=PowerState.POWERED_ON).values_list(
            "name", flat=True
        )[:5]
    )


def check_delete_host(tree: TreeSnapshot, host: Host) -> None:
    running = _running_vm_names(host)
    if running:
        raise InvalidOperation(f'Power off the VMs on "{host.name}" first: {", ".join(running)}.')


@transaction.atomic
def delete_host(host: Host) -> None:
    """Remove a host with its pools, VMs and samples; its VMs must be powered off first."""
    tree, host = locked(host)
    check_delete_host(tree, host)
    VirtualMachine.objects.filter(host=host).delete()
    for pool_id in reversed(tree.preorder()):  # children first: pools protect their parents
        ResourcePool.objects.filter(pk=pool_id).delete()
    host_id = host.pk
    host.delete()
    _announce(host_id)


def check_update_host(tree: TreeSnapshot, host: Host, **changes) -> Host:
    """The host as `changes` (model fields; `advanced_settings` a partial mapping of ESXi names)
    would leave it: a copy, not saved; or the refusal."""
    rebuilt = sorted(
        name for name in HARDWARE_FIELDS if name in changes and changes[name] != getattr(host, name)
    )
    running = _running_vm_names(host)
    if rebuilt and running:
        # A different machine under running VMs is not possible; ESXi wants maintenance mode.
        names = ", ".join(running)
        raise InvalidOperation(
            f'Power off the VMs on "{host.name}" before changing {", ".join(rebuilt)} '
            f"(as entering maintenance mode would); still powered on: {names}.",
            {
                name: (
                    "Can only change while every VM on the host is powered off "
                    f"(still on: {names})."
                )
                for name in rebuilt
            },
        )
    changed = copy.copy(host)
    for name, value in changes.items():
        if name == "advanced_settings":
            value = _own_settings(host.advanced_settings, value)
        setattr(changed, name, value)
    changed.full_clean()
    if not changed.hardware_mmu:
        hardware_vms = VirtualMachine.objects.filter(host=host, mmu_mode="hardware")
        if hardware_vms.exists():
            raise InvalidOperation(
                "VMs on this host ask for hardware MMU virtualization; set them to automatic or "
                "software first.",
                {
                    "hardware_mmu": "Still used by: "
                    + ", ".join(hardware_vms.values_list("name", flat=True)[:5])
                },
            )
    root = tree.root
    capacity = capacity_for_vms(changed)
    resized = {
        resource: replace(
            root.alloc(resource), reservation=capacity[resource], limit=capacity[resource]
        )
        for resource in RESOURCES
    }
    _enforce(admission.check_reconfigure_pool(tree, root.id, resized["cpu"], resized["memory"]))
    return changed


@transaction.atomic
def update_host(host: Host, **changes) -> Host:
    """Change a host's capacity, MMU support or advanced settings (`advanced_settings` is a
    partial mapping of ESXi names); the root pool follows capacity."""
    tree, host = locked(host)
    changed = check_update_host(tree, host, **changes)
    changed.config_version = F("config_version") + 1
    _save_host(changed)
    changed.refresh_from_db()
    ensure_root_pool(changed)
    _announce(changed.pk)
    return changed


# --- pools ---------------------------------------------------------------------------------------


def _refuse_duplicate_names(
    tree: TreeSnapshot, parent_id, arriving: list[PoolNode], leaving=None
) -> None:
    """Sibling pools need distinct names (vSphere's DuplicateName), also when pools arrive by a move
    or when a deleted pool hands its children up; `leaving` is a pool that goes, freeing its
    name."""
    gone = {pool.id for pool in arriving} | {leaving}
    taken = {pool.name for pool in tree.child_pools(parent_id) if pool.id not in gone}
    clashes = []
    for pool in arriving:
        if pool.name in taken:
            clashes.append(pool.name)
        taken.add(pool.name)
    if clashes:
        names = ", ".join(f'"{name}"' for name in clashes)
        raise DuplicateName(
            f'"{tree.pools[parent_id].name}" would hold two pools named {names}; rename one first.',
            {"pools": "A pool of this name is already there."},
            name=clashes[0],
        )


def check_create_pool(
    tree: TreeSnapshot,
    parent: ResourcePool,
    name: str,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> str:
    """A new child of `parent`, admitted against its parent chain; answers the name to give it."""
    cpu, memory = cpu or admission.NEW_POOL_ALLOCATION, memory or admission.NEW_POOL_ALLOCATION
    name = _check_name(name)
    if parent.pk not in tree.pools:
        raise ManagedObjectNotFound(f"{_label(parent)} no longer exists (deleted meanwhile).")
    if any(sibling.name == name for sibling in tree.child_pools(parent.pk)):
        raise DuplicateName(
            f'"{parent.name}" already has a pool named "{name}".',
            {"name": "A sibling has this name."},
            name=name,
        )
    _enforce(admission.check_create_pool(tree, parent.pk, cpu, memory, name=name))
    return name


@transaction.atomic
def create_pool(
    parent: ResourcePool, name: str, cpu: Allocation | None = None, memory: Allocation | None = None
) -> ResourcePool:
    """CreateResourcePool: a new child of `parent`, admitted against its parent chain."""
    cpu, memory = cpu or admission.NEW_POOL_ALLOCATION, memory or admission.NEW_POOL_ALLOCATION
    tree, parent = locked(parent)
    name = check_create_pool(tree, parent, name, cpu, memory)
    pool = ResourcePool(host_id=parent.host_id, parent=parent, name=name)
    _write_allocation(pool, "cpu", cpu)
    _write_allocation(pool, "memory", memory)
    pool.save()
    _announce(pool.host_id)
    return pool


def check_update_pool(
    tree: TreeSnapshot,
    pool: ResourcePool,
    *,
    name: str | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> str | None:
    """UpdateConfig of a pool, judged where `tree` has it; answers the new name (None: kept)."""
    if pool.is_root:
        raise InvalidOperation(
            f'"{pool.name}" is the host\'s root resource pool; its settings follow the host.'
        )
    if name is not None:
        name = _check_name(name)
        siblings = tree.child_pools(tree.pools[pool.pk].parent_id)
        if any(sibling.name == name and sibling.id != pool.pk for sibling in siblings):
            raise DuplicateName(
                f'A sibling of "{pool.name}" is already named "{name}".',
                {"name": "A sibling has this name."},
                name=name,
            )
    _enforce(admission.check_reconfigure_pool(tree, pool.pk, cpu, memory))
    return name


@transaction.atomic
def update_pool(
    pool: ResourcePool,
    *,
    name: str | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> ResourcePool:
    """UpdateConfig of a pool: name and allocations; the root is the host's and stays as it is."""
    tree, pool = locked(pool)
    name = check_update_pool(tree, pool, name=name, cpu=cpu, memory=memory)
    if name is not None:
        pool.name = name
    if cpu is not None:
        _write_allocation(pool, "cpu", cpu)
    if memory is not None:
        _write_allocation(pool, "memory", memory)
    pool.save()
    _announce(pool.host_id)
    return pool


def check_delete_pool(tree: TreeSnapshot, pool: ResourcePool) -> None:
    if pool.is_root:
        raise InvalidOperation(
            f'"{pool.name}" is the host\'s root resource pool and cannot be deleted.'
        )
    _enforce(admission.check_delete_pool(tree, pool.pk))
    _refuse_duplicate_names(tree, pool.parent_id, list(tree.child_pools(pool.pk)), leaving=pool.pk)


@transaction.atomic
def delete_pool(pool: ResourcePool) -> None:
    """Destroy a pool: its VMs and child pools move to its parent (vSphere keeps them)."""
    # The caller's copy may predate a move of the pool (its parent) or its deletion.
    tree, pool = locked(pool)
    check_delete_pool(tree, pool)
    ResourcePool.objects.filter(parent=pool).update(parent_id=pool.parent_id)
    moved = list(VirtualMachine.objects.filter(resource_pool=pool).values_list("pk", flat=True))
    VirtualMachine.objects.filter(pk__in=moved).update(
        resource_pool_id=pool.parent_id, config_version=F("config_version") + 1
    )
    pool.delete()
    _announce(pool.host_id)


def check_move(tree: TreeSnapshot, target: ResourcePool, vms=(), pools=()) -> None:
    """MoveIntoResourcePool: the VMs and pools leave their parents and are admitted to `target`."""
    foreign = [obj.name for obj in [*vms, *pools] if obj.host_id != target.host_id]
    if foreign:
        raise InvalidOperation(
            f'Cannot move {", ".join(foreign)} into "{target.name}": '
            "moving across hosts is not supported.",
            {"vms" if vms else "pools": "Everything moved must be on the target's host."},
        )
    # Where each one is now is in `tree`; gone is gone (a VM or pool deleted meanwhile).
    for obj in [target, *vms, *pools]:
        if obj.pk not in (tree.vms if isinstance(obj, VirtualMachine) else tree.pools):
            kind = "VM" if isinstance(obj, VirtualMachine) else "resource pool"
            raise ManagedObjectNotFound(
                f'The {kind} "{obj.name}" no longer exists (deleted meanwhile).'
            )
    _enforce(
        admission.check_move(tree, target.pk, [vm.pk for vm in vms], [pool.pk for pool in pools])
    )
    _refuse_duplicate_names(tree, target.pk, [tree.pools[pool.pk] for pool in pools])


@transaction.atomic
def move_into(
    target: ResourcePool, vms: list[VirtualMachine] = (), pools: list[ResourcePool] = ()
) -> ResourcePool:
    """MoveIntoResourcePool: leave the source, be admitted to the target; all or nothing.

    Answers the target as it is after the move.
    """
    tree, target = locked(target)
    check_move(tree, target, vms, pools)
    VirtualMachine.objects.filter(pk__in=[vm.pk for vm in vms]).update(
        resource_pool=target, config_version=F("config_version") + 1
    )
    ResourcePool.objects.filter(pk__in=[pool.pk for pool in pools]).update(parent=target)
    _announce(target.host_id)
    return target


def check_move_and_update_pool(
    tree: TreeSnapshot,
    pool: ResourcePool,
    parent: ResourcePool | None,
    *,
    name: str | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> None:
    """The pool moved under `parent` (None or its own parent: no move), then given the new
    settings, judged there."""
    if parent is not None and parent.pk != pool.parent_id:
        check_move(tree, parent, [], [pool])
        tree = tree.with_pools(replace(tree.pools[pool.pk], parent_id=parent.pk))
    check_update_pool(tree, pool, name=name, cpu=cpu, memory=memory)


@transaction.atomic
def move_and_update_pool(
    pool: ResourcePool,
    parent: ResourcePool | None,
    *,
    name: str | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
) -> ResourcePool:
    """What the admin's pool form saves: the move, then the new settings; all or nothing."""
    tree, pool = locked(pool)
    check_move_and_update_pool(tree, pool, parent, name=name, cpu=cpu, memory=memory)
    if parent is not None and parent.pk != pool.parent_id:
        move_into(parent, [], [pool])
    return update_pool(pool, name=name, cpu=cpu, memory=memory)


# --- virtual machines ----------------------------------------------------------------------------

VM_SETTINGS = (
    "name",
    "memory_mb",
    "vcpus",
    "guest_os",
    "workload",
    "mmu_mode",
    "pshare_enabled",
    "pshare_salt",
    "balloon_driver",
)
NEEDS_POWER_OFF = ("memory_mb", "vcpus", "guest_os")  # no hot-add in the lab, as vSphere's default


def _refuse_unknown_settings(settings: dict) -> None:
    unknown = set(settings) - set(VM_SETTINGS)
    if unknown:
        raise InvalidOperation(f"Unknown VM settings: {', '.join(sorted(unknown))}.")


def _validate_vm(vm: VirtualMachine) -> None:
    from django.core.exceptions import ValidationError

    try:
        vm.full_clean(exclude=["resource_pool", "host"])
    except ValidationError as exc:
        fields = {name: " ".join(messages) for name, messages in exc.message_dict.items()}
        raise InvalidOperation(
            "Invalid virtual machine settings: " + " ".join(fields.values()), fields
        ) from None
    if vm.mmu_mode == "hardware" and not vm.host.hardware_mmu:
        raise InvalidOperation(
            f'The host "{vm.host.name}" has no hardware-assisted MMU (EPT/RVI).',
            {"mmu_mode": "This host supports automatic or software only."},
        )
    clash = VirtualMachine.objects.filter(host_id=vm.host_id, name=vm.name).exclude(pk=vm.pk)
    if clash.exists():
        raise DuplicateName(
            f'The host already has a VM named "{vm.name}".',
            {"name": "This name is taken on this host."},
            name=vm.name,
        )


def _write_allocations(
    vm: VirtualMachine, cpu: Allocation | None, memory: Allocation | None
) -> None:
    """The given allocations, and share values that follow the VM's size for the others."""
    for resource, alloc in (("cpu", cpu), ("memory", memory)):
        alloc = allocation_of(vm, resource) if alloc is None else alloc
        _write_allocation(vm, resource, alloc, vcpus=vm.vcpus, memory_mb=vm.memory_mb)


def check_create_vm(
    tree: TreeSnapshot,
    host: Host,
    *,
    pool: ResourcePool | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    """A new, powered-off VM in `pool` (None: the host's root pool): answers it, not saved."""
    _refuse_unknown_settings(settings)
    if pool is not None and pool.host_id != host.pk:
        raise InvalidOperation(
            f'The pool "{pool.name}" is on another host.',
            {"resource_pool": "Choose a pool of this VM's host."},
        )
    if pool is not None and pool.pk not in tree.pools:
        raise ManagedObjectNotFound(f"{_label(pool)} no longer exists (deleted meanwhile).")
    vm = VirtualMachine(
        host=host, resource_pool_id=tree.root.id if pool is None else pool.pk, **settings
    )
    vm.name = _check_name(vm.name)
    _validate_vm(vm)
    cpu, memory = cpu or admission.VM_DEFAULT_ALLOCATION, memory or admission.VM_DEFAULT_ALLOCATION
    errors = admission.allocation_errors(cpu, memory, configured_memory_mb=vm.memory_mb)
    if errors:
        raise InvalidOperation("Invalid allocation: " + " ".join(errors.values()), errors)
    _write_allocations(vm, cpu, memory)
    return vm


@transaction.atomic
def create_vm(
    host: Host,
    *,
    pool: ResourcePool | None = None,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    """A new, powered-off VM in `pool` (the host's root pool by default)."""
    tree, host = locked(host)  # also orders this VM's name check after a concurrent one
    if pool is not None:
        pool = _current(ResourcePool, pool.pk, _label(pool))
    vm = check_create_vm(tree, host, pool=pool, cpu=cpu, memory=memory, **settings)
    vm.save()
    _announce(host.pk)
    return vm


def check_reconfigure_vm(
    tree: TreeSnapshot,
    vm: VirtualMachine,
    *,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    """ReconfigVM_Task, judged where `tree` has the VM: answers the VM as it would be (a copy, not
    saved); a powered-on VM is re-admitted."""
    _refuse_unknown_settings(settings)
    changed = {k: v for k, v in settings.items() if getattr(vm, k) != v}
    if vm.powered_on:
        blocked = [k for k in changed if k in NEEDS_POWER_OFF]
        if blocked:
            raise InvalidOperation(
                f'Power off "{vm.name}" before changing {", ".join(blocked)}.',
                {k: "Can only be changed while the VM is powered off." for k in blocked},
            )
    vm = copy.copy(vm)
    for name, value in changed.items():
        setattr(vm, name, value)
    if "name" in changed:
        vm.name = _check_name(vm.name)
    _validate_vm(vm)
    _enforce(admission.check_reconfigure_vm(tree, vm.pk, cpu, memory, memory_mb=vm.memory_mb))
    _write_allocations(vm, cpu, memory)
    return vm


@transaction.atomic
def reconfigure_vm(
    vm: VirtualMachine,
    *,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    """ReconfigVM_Task: settings and allocations; a powered-on VM is re-admitted."""
    tree, vm = locked(vm, related=("host",))
    vm = check_reconfigure_vm(tree, vm, cpu=cpu, memory=memory, **settings)
    vm.config_version = F("config_version") + 1
    vm.save()
    vm.refresh_from_db()
    _announce(vm.host_id)
    return vm


def check_move_and_reconfigure_vm(
    tree: TreeSnapshot,
    vm: VirtualMachine,
    pool: ResourcePool | None,
    *,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> None:
    """The VM moved into `pool` (None or its own pool: no move), then reconfigured, judged there."""
    if pool is not None and pool.pk != vm.resource_pool_id:
        check_move(tree, pool, [vm], [])
        tree = tree.with_vms(replace(tree.vms[vm.pk], pool_id=pool.pk))
    check_reconfigure_vm(tree, vm, cpu=cpu, memory=memory, **settings)


@transaction.atomic
def move_and_reconfigure_vm(
    vm: VirtualMachine,
    pool: ResourcePool | None,
    *,
    cpu: Allocation | None = None,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    """What the admin's VM form saves: the move, then the new settings; all or nothing."""
    tree, vm = locked(vm, related=("host",))
    check_move_and_reconfigure_vm(tree, vm, pool, cpu=cpu, memory=memory, **settings)
    if pool is not None and pool.pk != vm.resource_pool_id:
        move_into(pool, [vm], [])
    return reconfigure_vm(vm, cpu=cpu, memory=memory, **settings)


def check_delete_vm(tree: TreeSnapshot, vm: VirtualMachine) -> None:
    if vm.powered_on:
        raise InvalidPowerState(
            f'Power off "{vm.name}" before deleting it.',
            existing=PowerState.POWERED_ON,
            requested=PowerState.POWERED_OFF,
        )


@transaction.atomic
def delete_vm(vm: VirtualMachine) -> None:
    """Destroy_Task: only a powered-off VM, as read under the lock that power-on takes too."""
    tree, vm = locked(vm)
    check_delete_vm(tree, vm)
    vm.delete()
    _announce(vm.host_id)


def check_power_on(tree: TreeSnapshot, vm: VirtualMachine) -> None:
    """Admitted only if the VM's reservations fit its pool chain."""
    _enforce(admission.check_power_on(tree, vm.pk))


def _set_power(vm: VirtualMachine, state: str) -> VirtualMachine:
    tree, vm = locked(vm, related=("host",))
    if vm.power_state == state:
        return vm  # already there: nothing to admit or write
    if state == PowerState.POWERED_ON:
        check_power_on(tree, vm)
    vm.power_state = state
    vm.config_version = F("config_version") + 1
    fields = ["power_state", "config_version"]
    if state == PowerState.POWERED_ON:
        vm.power_on_count = F("power_on_count") + 1
        fields.append("power_on_count")
    vm.save(update_fields=fields)
    vm.refresh_from_db()
    _announce(vm.host_id)
    return vm


@transaction.atomic
def power_on(vm: VirtualMachine) -> VirtualMachine:
    """PowerOnVM_Task: admitted only if the VM's reservations fit its pool chain."""
    if vm.resource_pool_id is None:  # made before its host had pools: it belongs to the root
        _lock_host_tree(vm.host_id)
        ensure_root_pool(vm.host)
    return _set_power(vm, PowerState.POWERED_ON)


@transaction.atomic
def power_off(vm: VirtualMachine) -> VirtualMachine:
    """PowerOffVM_Task: always admitted; the VM's reservations return to its pool."""
    return _set_power(vm, PowerState.POWERED_OFF)
