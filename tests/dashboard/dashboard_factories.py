"""Inventory, users and samples for the dashboard tests.

Hosts, pools and VMs are made through pools.services (root pool, admission control, share
values), as the admin and the API make them; samples are written with the ORM, as the runtime
stores them.
"""

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Permission, User

from hostsim.engine import HostSim
from hostsim.models import Host, HostView, Sample, VirtualMachine
from hostsim.runtime import engine_config
from pools import services
from pools.admission import Allocation
from pools.models import ResourcePool

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # simulated time of the first sample
VIEW_PERMS = ("hostsim.view_host", "pools.view_resourcepool", "hostsim.view_virtualmachine")
CHANGE_PERMS = ("hostsim.change_host", "pools.change_resourcepool", "hostsim.change_virtualmachine")


def make_user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="lab-password-1")
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def make_host(name: str = "esx01", memory_mb: int = 16384, cpu_mhz: int = 20000) -> Host:
    return services.create_host(name=name, memory_mb=memory_mb, cpu_mhz=cpu_mhz)


def root_pool(host: Host) -> ResourcePool:
    return ResourcePool.objects.get(host=host, is_root=True)


def make_pool(
    host: Host, name: str, parent: ResourcePool | None = None, *, memory: Allocation | None = None
) -> ResourcePool:
    return services.create_pool(parent or root_pool(host), name, memory=memory)


def make_vm(
    host: Host,
    name: str,
    pool: ResourcePool | None = None,
    on: bool = True,
    *,
    memory: Allocation | None = None,
    **settings,
) -> VirtualMachine:
    vm = services.create_vm(host, pool=pool, memory=memory, name=name, **settings)
    return services.power_on(vm) if on else vm


def vm_values(step: int) -> dict:
    """A real-time row whose numbers tell which step they came from."""
    return {
        "mem.granted": 100_000 + step,
        "mem.consumed": 90_000 + step,
        "mem.shared": 10_000,
        "mem.zero": 4_000,
        "mem.active": 20_000,
        "mem.overhead": 30_000,
        "mem.vmmemctl": 0,
        "mem.swapped": 0,
        "mem.usage": 12.5,
        "lab.mmu.overhead": 3.0,
        "lab.guest.used": 80_000,
    }


def add_samples(
    kind: str,
    entity_id: int,
    host: Host,
    count: int,
    *,
    interval: int = 20,
    start: datetime = T0,
    values=vm_values,
) -> list[datetime]:
    times = [start + timedelta(seconds=interval * i) for i in range(count)]
    Sample.objects.bulk_create(
        Sample(
            host=host,
            entity_kind=kind,
            entity_id=entity_id,
            interval=interval,
            ts=ts,
            values=values(i),
        )
        for i, ts in enumerate(times)
    )
    return times


def add_host_view(host: Host, ticks: int = 3, at: datetime = T0) -> dict:
    """Run the host's powered-on VMs in a real engine for `ticks` intervals and store its esxtop
    screen as the runtime does after a tick (database VM ids); returns the screen."""
    sim = HostSim(
        host.memory_mb, host.cpu_mhz, hardware_mmu=host.hardware_mmu, settings=host.settings
    )
    engine_ids = {}
    for vm in VirtualMachine.objects.filter(host=host, power_state="poweredOn"):
        engine_ids[sim.add_vm(engine_config(vm))] = vm.pk
    for engine_id in engine_ids:
        sim.power_on(engine_id)
    for _ in range(ticks):
        sim.step(20)
    screen = sim.esxtop()
    screen["vms"] = [{**row, "id": engine_ids[row["id"]]} for row in screen["vms"]]
    HostView.objects.update_or_create(host=host, defaults={"ts": at, "esxtop": screen})
    return screen
