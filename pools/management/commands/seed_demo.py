"""manage.py seed_demo: the demo scenario, created once (running it again changes nothing).

Two hosts to compare: esxi-01 with hardware-assisted MMU and salting 0 (inter-VM sharing as the
source document describes it), esxi-02 without hardware MMU and the modern default salting 2.
A mix of Linux and Windows guests with different workloads, one VM with sharing disabled, and
resource pools whose reservations show admission control at work. esxi-03 is overcommitted
(about 1.75x its memory in VMs, whose databases keep touching their buffer pools): its free
memory state leaves high within minutes, and its VMs show what a reservation, a limit below the
VM's size, a missing balloon driver and high or low shares do under contention.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from hostsim.models import Host, VirtualMachine
from pools import services
from pools.admission import Allocation
from pools.models import ResourcePool

HOSTS = [
    {
        "name": "esxi-01.lab.local",
        "memory_mb": 16384,
        "cpu_mhz": 8 * 2400,
        "hardware_mmu": True,
        # Large pages off, as an admin favouring TPS on an EPT host sets it: sharing shows at once.
        "advanced_settings": {
            "Mem.ShareScanTime": 10,
            "Mem.ShareForceSalting": 0,
            "Mem.AllocGuestLargePage": 0,
        },
        "seed": 1,
    },
    {
        "name": "esxi-02.lab.local",
        "memory_mb": 12288,
        "cpu_mhz": 4 * 2000,
        "hardware_mmu": False,
        "advanced_settings": {"Mem.ShareScanTime": 10, "Mem.ShareForceSalting": 2},
        "seed": 2,
    },
    {
        "name": "esxi-03.lab.local",
        "memory_mb": 8192,
        "cpu_mhz": 4 * 2400,
        "hardware_mmu": True,
        "advanced_settings": {},
        "seed": 3,
    },
]
# pool name -> (host, parent name or None for the root, memory reservation MB, expandable, limit MB)
POOLS = [
    ("Production", "esxi-01.lab.local", None, 6144, True, -1),
    ("Test", "esxi-01.lab.local", None, 2048, False, 4096),
]
# name, host, pool (None: root), guest OS, workload, memory MB, vCPUs, extra settings, memory
# allocation (reservation, limit, shares level), powered on
VMS = [
    (
        "web-01",
        "esxi-01.lab.local",
        "Production",
        "linux",
        "webserver",
        2048,
        2,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "web-02",
        "esxi-01.lab.local",
        "Production",
        "linux",
        "webserver",
        2048,
        2,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "db-01",
        "esxi-01.lab.local",
        "Production",
        "linux",
        "database",
        3072,
        4,
        {},
        (2048, -1, "normal"),
        True,
    ),
    (
        "win-app-01",
        "esxi-01.lab.local",
        None,
        "windows",
        "idle",
        2048,
        2,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "batch-01",
        "esxi-01.lab.local",
        "Test",
        "linux",
        "batch",
        2048,
        2,
        {"pshare_enabled": False},
        (0, -1, "normal"),
        True,
    ),
    (
        "toucher-01",
        "esxi-01.lab.local",
        "Test",
        "linux",
        "toucher",
        1024,
        1,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "big-test-01",
        "esxi-01.lab.local",
        "Test",
        "linux",
        "idle",
        3072,
        2,
        {},
        (3072, -1, "normal"),
        False,
    ),
    ("win-01", "esxi-02.lab.local", None, "windows", "idle", 2048, 2, {}, (0, -1, "normal"), True),
    ("win-02", "esxi-02.lab.local", None, "windows", "idle", 2048, 2, {}, (0, -1, "normal"), True),
    (
        "lin-web-01",
        "esxi-02.lab.local",
        None,
        "linux",
        "webserver",
        2048,
        2,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "lin-db-01",
        "esxi-02.lab.local",
        None,
        "linux",
        "database",
        2048,
        2,
        {},
        (0, -1, "normal"),
        True,
    ),
    (
        "db-reserved-03",
        "esxi-03.lab.local",
        None,
        "linux",
        "database",
        3072,
        2,
        {},
        (2048, -1, "normal"),
        True,
    ),
    (
        "db-high-03",
        "esxi-03.lab.local",
        None,
        "linux",
        "database",
        3072,
        2,
        {},
        (0, -1, "high"),
        True,
    ),
    (
        "db-low-03",
        "esxi-03.lab.local",
        None,
        "linux",
        "database",
        2048,
        2,
        {},
        (0, -1, "low"),
        True,
    ),
    (
        "limited-03",
        "esxi-03.lab.local",
        None,
        "linux",
        "batch",
        4096,
        2,
        {},
        (0, 1024, "normal"),
        True,
    ),
    (
        "no-balloon-03",
        "esxi-03.lab.local",
        None,
        "linux",
        "webserver",
        2048,
        2,
        {"balloon_driver": False},
        (0, -1, "normal"),
        True,
    ),
]


class Command(BaseCommand):
    help = "Load the demo hosts, pools and VMs (only what is missing)."

    @transaction.atomic
    def handle(self, *args, **options):
        created = 0
        hosts = {}
        for spec in HOSTS:
            host = Host.objects.filter(name=spec["name"]).first()
            if host is None:
                host, created = services.create_host(**spec), created + 1
            hosts[host.name] = host
        pools = {}
        for name, host_name, parent_name, reservation, expandable, limit in POOLS:
            host = hosts[host_name]
            parent = pools.get(parent_name) or services.ensure_root_pool(host)
            pool = ResourcePool.objects.filter(host=host, name=name).first()
            if pool is None:
                memory = Allocation(reservation=reservation, limit=limit, expandable=expandable)
                pool, created = services.create_pool(parent, name, memory=memory), created + 1
            pools[name] = pool
        for (
            name,
            host_name,
            pool_name,
            guest_os,
            workload,
            memory_mb,
            vcpus,
            extra,
            memory,
            on,
        ) in VMS:
            host = hosts[host_name]
            if VirtualMachine.objects.filter(host=host, name=name).exists():
                continue
            vm = services.create_vm(
                host,
                pool=pools.get(pool_name),
                memory=Allocation(
                    reservation=memory[0], limit=memory[1], shares_level=memory[2], expandable=False
                ),
                name=name,
                guest_os=guest_os,
                workload=workload,
                memory_mb=memory_mb,
                vcpus=vcpus,
                **extra,
            )
            created += 1
            if on:
                services.power_on(vm)
        self.stdout.write(f"lab: demo scenario ready ({created} objects created)")
