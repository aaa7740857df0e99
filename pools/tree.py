"""One host's resource pool tree as plain data: the snapshot admission control decides on
(pools.admission) and the document the simulation divides memory down (hostsim, through
Host.resource_tree). Both are built from the same nodes, so what admission sees is what the
engine gets.

Pure: frozen dataclasses, no ORM, no Django.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

NodeId = Hashable
UNLIMITED = -1  # ResourceAllocationInfo.limit: -1 means no fixed limit


@dataclass(frozen=True)
class Allocation:
    """One resource's ResourceAllocationInfo. The defaults are a new pool's (DESIGN section 5).

    `expandable` is read for pools only (vSphere: "This property is ignored for virtual
    machines"); `shares` only when `shares_level` is "custom" (SharesInfo).
    """

    reservation: int = 0
    limit: int = UNLIMITED
    expandable: bool = True
    shares_level: str = "normal"
    shares: int = 0

    @property
    def limited(self) -> bool:
        return self.limit != UNLIMITED


NEW_POOL_ALLOCATION = Allocation()
VM_DEFAULT_ALLOCATION = Allocation(expandable=False)


@dataclass(frozen=True)
class PoolNode:
    id: NodeId
    name: str
    parent_id: NodeId | None  # None for the root
    cpu: Allocation = Allocation()
    memory: Allocation = Allocation()

    def alloc(self, resource: str) -> Allocation:
        return _alloc(self, resource)


@dataclass(frozen=True)
class VmNode:
    id: NodeId
    name: str
    pool_id: NodeId
    powered_on: bool
    vcpus: int
    memory_mb: int
    cpu: Allocation = VM_DEFAULT_ALLOCATION
    memory: Allocation = VM_DEFAULT_ALLOCATION

    def alloc(self, resource: str) -> Allocation:
        return _alloc(self, resource)


def _alloc(node: PoolNode | VmNode, resource: str) -> Allocation:
    if resource == "cpu":
        return node.cpu
    if resource == "memory":
        return node.memory
    raise ValueError(f"unknown resource {resource!r}: expected 'cpu' or 'memory'")


@dataclass(frozen=True)
class TreeSnapshot:
    """One host's pools and VMs at one moment. Pool ids and VM ids are separate id spaces.

    Construction checks the structure (one root, every parent and pool present, no cycle) and
    raises ValueError otherwise. The snapshot is never changed: `with_*` return a new one.
    """

    pools: Mapping[NodeId, PoolNode]
    vms: Mapping[NodeId, VmNode]
    root_id: NodeId
    _child_pools: dict[NodeId, list[NodeId]] = field(init=False, repr=False, compare=False)
    _child_vms: dict[NodeId, list[NodeId]] = field(init=False, repr=False, compare=False)
    _preorder: tuple[NodeId, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pools, vms = dict(self.pools), dict(self.vms)
        object.__setattr__(self, "pools", pools)
        object.__setattr__(self, "vms", vms)
        nodes: list[tuple[NodeId, PoolNode | VmNode]] = [*pools.items(), *vms.items()]
        for key, node in nodes:
            if key != node.id:
                raise ValueError(f"{node.name!r} is filed under id {key!r} but has id {node.id!r}")
        root = pools.get(self.root_id)
        if root is None or root.parent_id is not None:
            raise ValueError(f"the root pool {self.root_id!r} must be present and have no parent")
        child_pools: dict[NodeId, list[NodeId]] = {pool_id: [] for pool_id in pools}
        child_vms: dict[NodeId, list[NodeId]] = {pool_id: [] for pool_id in pools}
        for pool in pools.values():
            if pool.id == self.root_id:
                continue
            if pool.parent_id not in pools:
                raise ValueError(f"pool {pool.name!r} has no parent in this tree")
            child_pools[pool.parent_id].append(pool.id)
        for vm in vms.values():
            if vm.pool_id not in pools:
                raise ValueError(f"VM {vm.name!r} is in pool {vm.pool_id!r}, not in this tree")
            child_vms[vm.pool_id].append(vm.id)
        preorder, stack = [], [self.root_id]
        while stack:
            pool_id = stack.pop()
            preorder.append(pool_id)
            stack.extend(reversed(child_pools[pool_id]))
        if len(preorder) != len(pools):
            raise ValueError("the pools do not form one tree (a cycle or a second root)")
        object.__setattr__(self, "_child_pools", child_pools)
        object.__setattr__(self, "_child_vms", child_vms)
        object.__setattr__(self, "_preorder", tuple(preorder))

    @classmethod
    def build(cls, pools: Iterable[PoolNode], vms: Iterable[VmNode] = ()) -> TreeSnapshot:
        """A snapshot from node lists; the root is the pool without a parent."""
        pools = list(pools)
        roots = [pool.id for pool in pools if pool.parent_id is None]
        if len(roots) != 1:
            raise ValueError(f"expected one root pool, found {len(roots)}")
        return cls({pool.id: pool for pool in pools}, {vm.id: vm for vm in vms}, roots[0])

    @property
    def root(self) -> PoolNode:
        return self.pools[self.root_id]

    def preorder(self) -> tuple[NodeId, ...]:
        """Pool ids, each before its children, starting at the root."""
        return self._preorder

    def child_pools(self, pool_id: NodeId) -> tuple[PoolNode, ...]:
        return tuple(self.pools[child] for child in self._child_pools[pool_id])

    def child_vms(self, pool_id: NodeId) -> tuple[VmNode, ...]:
        return tuple(self.vms[child] for child in self._child_vms[pool_id])

    def ancestors(self, pool_id: NodeId, *, include_self: bool = False) -> tuple[PoolNode, ...]:
        """The path to the root, nearest first: parent, grandparent, ..., root."""
        path = [self.pools[pool_id]] if include_self else []
        parent_id = self.pools[pool_id].parent_id
        while parent_id is not None:
            path.append(self.pools[parent_id])
            parent_id = self.pools[parent_id].parent_id
        return tuple(path)

    def descendants(self, pool_id: NodeId) -> tuple[PoolNode, ...]:
        """Every pool below `pool_id` (not itself), each before its children."""
        found, stack = [], list(reversed(self._child_pools[pool_id]))
        while stack:
            child = stack.pop()
            found.append(self.pools[child])
            stack.extend(reversed(self._child_pools[child]))
        return tuple(found)

    def subtree_vms(self, pool_id: NodeId) -> tuple[VmNode, ...]:
        """The VMs in `pool_id` and in every pool below it."""
        pool_ids = [pool_id, *(pool.id for pool in self.descendants(pool_id))]
        return tuple(vm for pid in pool_ids for vm in self.child_vms(pid))

    def is_fixed(self, pool_id: NodeId, resource: str) -> bool:
        """Whether the pool's reservation cannot borrow: not expandable, or the root."""
        pool = self.pools[pool_id]
        return pool.parent_id is None or not pool.alloc(resource).expandable

    def with_pools(self, *pools: PoolNode) -> TreeSnapshot:
        """A copy with these pools added or replaced (by id)."""
        return TreeSnapshot({**self.pools, **{p.id: p for p in pools}}, self.vms, self.root_id)

    def with_vms(self, *vms: VmNode) -> TreeSnapshot:
        """A copy with these VMs added or replaced (by id)."""
        return TreeSnapshot(self.pools, {**self.vms, **{vm.id: vm for vm in vms}}, self.root_id)

    def without_pool(self, pool_id: NodeId) -> TreeSnapshot:
        """A copy without this (childless) pool."""
        pools = {key: pool for key, pool in self.pools.items() if key != pool_id}
        return TreeSnapshot(pools, self.vms, self.root_id)


# --------------------------------------------------------------------------- for the simulation


def simulation_document(snapshot: TreeSnapshot) -> dict:
    """The memory side of the tree as hostsim.engine's `set_resource_tree` takes it, with
    database VM ids: {"name", "reservation_mb", "limit_mb", "shares", "expandable", "vms",
    "children"} from the root down (children and VMs in id order, so equal trees are equal
    documents). The runtime swaps in the engine's VM ids."""

    def node(pool: PoolNode) -> dict:
        memory = pool.memory
        return {
            "name": pool.name,
            "reservation_mb": memory.reservation,
            "limit_mb": memory.limit,
            "shares": memory.shares or None,
            "expandable": memory.expandable if pool.parent_id is not None else False,
            "vms": sorted(vm.id for vm in snapshot.child_vms(pool.id)),
            "children": [
                node(child) for child in sorted(snapshot.child_pools(pool.id), key=_by_id)
            ],
        }

    return node(snapshot.root)


def _by_id(pool: PoolNode):
    return pool.id
