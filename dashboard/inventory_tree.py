"""The inventory tree beside every page: host > resource pools (nested) > VMs.

Built lazily: pages that never show the tree (the admin, the login page) run no query for it.
A user sees only the kinds of object they hold the view permission for; a VM in a pool they
cannot see is shown under the nearest visible ancestor, and without the host permission the
host's contents are listed at the top level. The host's root pool is not a node of its own: its
pools and VMs hang directly under the host, as in the vSphere Client.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.urls import reverse

from dashboard.access import view_permission
from hostsim.models import Host, PowerState, VirtualMachine
from pools.models import ResourcePool


@dataclass
class TreeNode:
    kind: str  # "host" | "pool" | "vm"
    id: int
    name: str
    url: str
    icon: str  # "host", "pool", "vm-on", "vm-off"
    state: str = ""  # a VM's power state, in words
    children: list["TreeNode"] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"


def build_tree(user) -> list[TreeNode]:
    can = {kind: user.has_perm(view_permission(kind)) for kind in ("host", "pool", "vm")}
    host_rows = Host.objects.order_by("name").values_list("pk", "name")
    pool_rows = (
        ResourcePool.objects.order_by("name", "pk").values_list(
            "pk", "name", "host_id", "parent_id", "is_root"
        )
        if can["pool"] or can["vm"]
        else []
    )
    vm_rows = (
        VirtualMachine.objects.order_by("name", "pk").values_list(
            "pk", "name", "host_id", "resource_pool_id", "power_state"
        )
        if can["vm"]
        else []
    )

    hosts = {
        pk: TreeNode("host", pk, name, reverse("dashboard:host", args=[pk]), "host")
        for pk, name in host_rows
    }
    pools: dict[int, TreeNode] = {}
    parent_of: dict[int, int | None] = {}
    host_of_pool: dict[int, int] = {}
    for pk, name, host_id, parent_id, is_root in pool_rows:
        host_of_pool[pk] = host_id
        parent_of[pk] = None if is_root else parent_id
        if can["pool"] and not is_root:
            pools[pk] = TreeNode("pool", pk, name, reverse("dashboard:pool", args=[pk]), "pool")

    def container(pool_id: int | None, host_id: int) -> TreeNode:
        """The nearest visible pool at or above `pool_id`, else the host."""
        while pool_id is not None and pool_id not in pools:
            pool_id = parent_of.get(pool_id)
        return pools[pool_id] if pool_id is not None else hosts[host_id]

    for pk in pools:
        container(parent_of[pk], host_of_pool[pk]).children.append(pools[pk])
    for pk, name, host_id, pool_id, power_state in vm_rows:
        on = power_state == PowerState.POWERED_ON
        container(pool_id, host_id).children.append(
            TreeNode(
                "vm",
                pk,
                name,
                reverse("dashboard:vm", args=[pk]),
                "vm-on" if on else "vm-off",
                PowerState(power_state).label if power_state in PowerState.values else power_state,
            )
        )
    for node in [*hosts.values(), *pools.values()]:
        # Pools before VMs, like the vSphere Client's "Hosts and Clusters" view.
        node.children.sort(key=lambda child: (child.kind != "pool",))
    if can["host"]:
        return list(hosts.values())
    return [child for host in hosts.values() for child in host.children]


class Inventory:
    def __init__(self, user):
        self._user = user

    @cached_property
    def nodes(self) -> list[TreeNode]:
        return build_tree(self._user)


def inventory(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inventory": Inventory(user)}
