"""Building hosts, pools and VMs through pools.services, and reading back what they hold.

Every scenario is built by `Lab`, the same way an admin or a script would build it, so that a
refusal and its admitted counterpart share their setup and differ in one number.
"""

import pytest
from django.contrib.auth.models import Permission, User

from hostsim.models import GuestOperation, Host, VirtualMachine
from pools import services
from pools.admission import UNLIMITED, Allocation
from pools.models import ResourcePool

# A 16 GB host: the VMkernel keeps 24 MB + 8 MB per GB (152 MB; hostsim.engine.overhead), so VMs
# get 16232 MB (pools.services.capacity_for_vms); CPU is handed out whole.
HOST_MEMORY_MB = 16384
HOST_CPU_MHZ = 20000
ROOT_MEMORY_MB = 16384 - 24 - 8 * 16


def fixed(reservation: int, limit: int = UNLIMITED) -> Allocation:
    return Allocation(reservation, limit, expandable=False)


def expandable(reservation: int = 0, limit: int = UNLIMITED) -> Allocation:
    return Allocation(reservation, limit, expandable=True)


def reserve(reservation: int, limit: int = UNLIMITED, **shares) -> Allocation:
    """A VM's allocation."""
    return Allocation(reservation, limit, expandable=False, **shares)


def fresh(obj):
    """The row as the database holds it now."""
    return type(obj).objects.get(pk=obj.pk)


def database_state() -> dict:
    """Every row the resource-pool layer writes, to prove that a refusal wrote nothing."""
    return {
        "hosts": list(Host.objects.order_by("pk").values()),
        "pools": list(ResourcePool.objects.order_by("pk").values()),
        "vms": list(VirtualMachine.objects.order_by("pk").values()),
        "guest_operations": list(GuestOperation.objects.order_by("pk").values()),
    }


class Lab:
    """One host built through pools.services, with pools and VMs looked up by name."""

    def __init__(
        self,
        name: str = "esxi-a",
        memory_mb: int = HOST_MEMORY_MB,
        cpu_mhz: int = HOST_CPU_MHZ,
        **fields,
    ):
        self.host = services.create_host(name=name, memory_mb=memory_mb, cpu_mhz=cpu_mhz, **fields)

    @property
    def root(self) -> ResourcePool:
        return ResourcePool.objects.get(host=self.host, is_root=True)

    def pool(self, name: str, parent: str | None = None, *, cpu=None, memory=None) -> ResourcePool:
        return services.create_pool(self._parent(parent), name, cpu, memory)

    def vm(
        self,
        name: str,
        pool: str | None = None,
        *,
        on=False,
        cpu=None,
        memory=None,
        memory_mb=4096,
        vcpus=1,
        **settings,
    ):
        vm = services.create_vm(
            self.host,
            pool=self._parent(pool),
            cpu=cpu,
            memory=memory,
            name=name,
            memory_mb=memory_mb,
            vcpus=vcpus,
            **settings,
        )
        return services.power_on(vm) if on else vm

    def _parent(self, name: str | None) -> ResourcePool:
        return self.root if name is None else self.get_pool(name)

    def get_pool(self, name: str) -> ResourcePool:
        return ResourcePool.objects.get(host=self.host, name=name)

    def get_vm(self, name: str) -> VirtualMachine:
        return VirtualMachine.objects.get(host=self.host, name=name)

    def usage(self, pool: str | None = None, resource: str = "memory") -> dict[str, int]:
        """The pool's runtime (ResourcePoolResourceUsage) for one resource, as services.runtime
        reads it."""
        return services.runtime(self.host.pk)[self._parent(pool).pk][resource]

    def unreserved(self, pool: str | None = None, resource: str = "memory") -> int:
        return self.usage(pool, resource)["unreservedForVm"]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Users are made and HTTP Basic checks passwords per request: a slow hash only costs time
    here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lab(db) -> Lab:
    return Lab()


def assert_denied(refusal, *, pool: str, resource: str, requested: int, unreserved: int) -> None:
    assert (refusal.fault, refusal.pool, refusal.resource) == (
        "InsufficientResourcesFault",
        pool,
        resource,
    )
    assert (refusal.requested, refusal.unreserved) == (requested, unreserved)


def user_with(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="s3cret-pass")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


VIEW_PERMISSIONS = ("view_host", "view_resourcepool", "view_virtualmachine")
CHANGE_PERMISSIONS = ("change_host", "change_resourcepool", "change_virtualmachine")


@pytest.fixture
def viewer(db) -> User:
    """May read hosts, pools and VMs, and change nothing."""
    return user_with("viewer", *VIEW_PERMISSIONS)


@pytest.fixture
def operator(db) -> User:
    """May read and change hosts, pools and VMs (but is no superuser)."""
    return user_with("operator", *VIEW_PERMISSIONS, *CHANGE_PERMISSIONS)
