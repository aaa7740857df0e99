"""Entitlement: the memory each VM deserves, divided down the host's resource tree (DESIGN.md 4b).

Every Mem.BalancePeriod the host's memory for VMs is divided, level by level, from the root pool
down (vSphere Resource Management, "Memory Virtualization Basics" and "Managing Resource Pools";
Waldspurger 2002, sections 5 and 6):

1. each child (a pool or a VM) first gets its reservation;
2. what is left goes by shares among the siblings, each capped by its demand and its limit. A VM's
   demand is its active memory, plus the untaxed part of its idle memory, plus headroom:
   A + (1 - tax) (P - A) + 5% of its size, for P pages held; with no tax it is all it holds,
   with the default tax a quarter of its idle memory. Shares are priced with the same idle memory
   tax: a child with S shares and
   P pages of which a fraction f is active pays rho = S / (P (f + k (1 - f))), k = 1 / (1 - tax),
   per page (Waldspurger, section 5.2), so idle memory is k times cheaper to take (4x at the
   default Mem.IdleTax of 75%). Memory is divided so that every child that is not at a bound has
   the same rho: with x = 1 / rho a child gets P = S x while that is all active, and
   P = A + (1 - tax) (S x - A) beyond its A active pages;
3. what capped siblings cannot use goes to the others the same way, now up to their limits.

A pool's reservation, limit and shares are its own; its demand and active memory are its VMs'.
A pool's reservation is at least what its children reserve (an expandable pool borrows the rest
from its parent: DESIGN.md 5). VMs the tree does not name sit under the root.
"""

import math
from dataclasses import dataclass

import numpy as np

from hostsim.engine.errors import EngineError
from hostsim.engine.machine import PAGES_PER_MB

SHARES_PER_MB_NORMAL = 10  # a VM's normal memory shares per configured MB (DESIGN.md 5)
POOL_SHARES_NORMAL = 163_840  # a pool's normal memory shares: as a 16 GB VM (DESIGN.md 5)
# Headroom in a VM's demand, as a share of its size (our choice: so that a VM that just became
# busy, or just powered on, can grow before the next balance period).
DEMAND_SIZE_HEADROOM = 0.05
_BISECTIONS = 64
_TREE_KEYS = {"name", "reservation_mb", "limit_mb", "shares", "expandable", "vms", "children"}
MAX_POOLS = 1024
MAX_NAME = 80


@dataclass(frozen=True)
class PoolNode:
    name: str
    parent: int  # index of the parent pool, -1 for the root
    reservation_mb: int
    limit_mb: int  # -1: unlimited
    shares: int
    expandable: bool


class ResourceTree:
    """The host's resource pools, flattened: pools in pre-order (the root first), VMs by pool."""

    def __init__(self, pools: list[PoolNode], vm_pool: dict[int, int]):
        self.pools = pools
        self.vm_pool = vm_pool  # engine VM id -> pool index, for the VMs the tree names

    @classmethod
    def root_only(cls) -> "ResourceTree":
        return cls([PoolNode("root", -1, 0, -1, POOL_SHARES_NORMAL, False)], {})

    @classmethod
    def parse(cls, tree, vm_ids, host_memory_mb: int) -> "ResourceTree":
        """Validate a tree of plain dicts; EngineError names the first problem."""
        pools: list[PoolNode] = []
        vm_pool: dict[int, int] = {}

        def visit(node, parent: int, path: str) -> None:
            if not isinstance(node, dict):
                raise EngineError(f"{path} must be a dict describing a resource pool.")
            unknown = set(node) - _TREE_KEYS
            if unknown:
                raise EngineError(f"{path} has unknown key(s): {', '.join(sorted(unknown))}.")
            name = node.get("name", "")
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
                raise EngineError(f"{path}: a pool name is 1 to {MAX_NAME} characters.")
            where = f"pool {name!r}"
            reservation = node.get("reservation_mb", 0)
            limit = node.get("limit_mb", -1)
            shares = node.get("shares")
            if not _whole(reservation) or not 0 <= reservation <= host_memory_mb:
                raise EngineError(
                    f"{where}: reservation_mb must be a whole number from 0 to the host's "
                    f"{host_memory_mb} MB; got {reservation!r}."
                )
            if not _whole(limit) or (limit != -1 and limit < reservation):
                raise EngineError(
                    f"{where}: limit_mb must be -1 (unlimited) or at least the reservation; "
                    f"got {limit!r}."
                )
            if shares is None:
                shares = POOL_SHARES_NORMAL
            if not _whole(shares) or shares < 1:
                raise EngineError(f"{where}: shares must be a positive whole number or None.")
            expandable = node.get("expandable", True)
            if not isinstance(expandable, bool):
                raise EngineError(f"{where}: expandable must be True or False.")
            vms, children = node.get("vms", []), node.get("children", [])
            if not isinstance(vms, list | tuple) or not isinstance(children, list | tuple):
                raise EngineError(f"{where}: vms and children must be lists.")
            if len(pools) >= MAX_POOLS:
                raise EngineError(f"A resource tree has at most {MAX_POOLS} pools.")
            index = len(pools)
            pools.append(
                PoolNode(name, parent, int(reservation), int(limit), int(shares), expandable)
            )
            for vm in vms:
                if not _whole(vm) or vm not in vm_ids:
                    raise EngineError(f"{where} names VM {vm!r}, which is not on this host.")
                if vm in vm_pool:
                    raise EngineError(f"VM {vm} appears twice in the resource tree.")
                vm_pool[int(vm)] = index
            for position, child in enumerate(children):
                visit(child, index, f"{where} child {position}")

        visit(tree, -1, "the root pool")
        return cls(pools, vm_pool)

    def limited(self, pool: int) -> bool:
        """Whether the pool or one above it has a limit (the root's is the host itself)."""
        while pool > 0:
            if self.pools[pool].limit_mb >= 0:
                return True
            pool = self.pools[pool].parent
        return False

    def pool_of(self, vm: int) -> int:
        return self.vm_pool.get(vm, 0)

    def forget_vm(self, vm: int) -> None:
        self.vm_pool.pop(vm, None)

    def to_state(self) -> dict:
        return {
            "pools": [
                [p.name, p.parent, p.reservation_mb, p.limit_mb, p.shares, p.expandable]
                for p in self.pools
            ],
            "vm_pool": [[vm, pool] for vm, pool in self.vm_pool.items()],
        }

    @classmethod
    def from_state(cls, state: dict) -> "ResourceTree":
        return cls(
            [PoolNode(*fields) for fields in state["pools"]],
            {vm: pool for vm, pool in state["vm_pool"]},
        )


def _whole(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass
class VmClaim:
    """What one running VM brings to the division, in pages."""

    vm: int
    pages: int
    reservation: float
    limit: float  # min(limit, size)
    shares: float
    active: float
    held: float  # machine memory it holds now (consumed)


def vm_demand(active: float, held: float, pages: int, idle_tax: float) -> float:
    idle = max(0.0, held - active)
    return min(pages, active + (1 - idle_tax) * idle + DEMAND_SIZE_HEADROOM * pages)


def entitlements(
    tree: ResourceTree, claims: list[VmClaim], capacity: float, idle_tax: float
) -> dict[int, float]:
    """Pages each VM is entitled to, out of `capacity` pages for all of them."""
    if not claims:
        return {}
    pools = tree.pools
    count = len(pools)
    # Per node (pools first, then VMs): bounds, demand, active memory and shares, bottom-up.
    parent = [p.parent for p in pools] + [tree.pool_of(c.vm) for c in claims]
    size = count + len(claims)
    low = np.zeros(size)
    high = np.zeros(size)
    demand = np.zeros(size)
    active = np.zeros(size)
    shares = np.zeros(size)
    for i, claim in enumerate(claims):
        node = count + i
        low[node] = claim.reservation
        high[node] = max(claim.reservation, claim.limit)
        wants = vm_demand(claim.active, claim.held, claim.pages, idle_tax)
        demand[node] = min(max(wants, low[node]), high[node])
        active[node] = claim.active
        shares[node] = claim.shares
    children: list[list[int]] = [[] for _ in range(count)]
    for node in range(1, size):
        children[parent[node]].append(node)
    for index in range(count - 1, -1, -1):  # pre-order: children come after their parent
        kids = children[index]
        pool = pools[index]
        reserved = pool.reservation_mb * PAGES_PER_MB
        limit = math.inf if pool.limit_mb < 0 else pool.limit_mb * PAGES_PER_MB
        low[index] = max(reserved, sum(low[k] for k in kids))
        high[index] = max(low[index], min(limit, sum(high[k] for k in kids)))
        demand[index] = min(max(sum(demand[k] for k in kids), low[index]), high[index])
        active[index] = sum(active[k] for k in kids)
        shares[index] = pool.shares
    given = np.zeros(size)
    given[0] = min(capacity, high[0])
    for index in range(count):
        kids_at = np.array(children[index], np.int64)
        if kids_at.size:
            given[kids_at] = divide(
                given[index],
                low[kids_at],
                high[kids_at],
                demand[kids_at],
                shares[kids_at],
                active[kids_at],
                idle_tax,
            )
    return {claim.vm: float(given[count + i]) for i, claim in enumerate(claims)}


def divide(capacity, low, high, demand, shares, active, idle_tax) -> np.ndarray:
    """Split `capacity` among siblings: reservations, shares up to demand, then up to limits."""
    if low.sum() >= capacity:
        return low * (capacity / low.sum()) if low.sum() else low.copy()
    capped = np.maximum(low, np.minimum(demand, high))
    if capped.sum() >= capacity:
        return _fill(capacity, low, capped, shares, active, idle_tax)
    if high.sum() <= capacity:
        return high.copy()
    return _fill(capacity, capped, high, shares, active, idle_tax)


def _fill(capacity, low, high, shares, active, idle_tax) -> np.ndarray:
    """x = 1/rho such that the idle-taxed allocations, clipped to [low, high], fill capacity."""
    keep = 1.0 - idle_tax

    def wanted(x: float) -> np.ndarray:
        plain = shares * x
        return np.where(plain <= active, plain, active + keep * (plain - active))

    # x at which each sibling reaches its upper bound: the bisection's upper end
    reach = np.where(high <= active, high / shares, (active + (high - active) / keep) / shares)
    lo, hi = 0.0, float(reach.max()) * 1.000001 + 1e-12
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if np.clip(wanted(mid), low, high).sum() < capacity:
            lo = mid
        else:
            hi = mid
    return np.clip(wanted(hi), low, high)
