"""The inventory as vCenter shows it, and the properties clients read, from the lab's rows.

    group-d1 (Datacenters) > datacenter-1 > group-h2 (host) > domain-sN (ComputeResource)
                                                                > host-N
                                                                > resgroup-R ("Resources") > pools
                                          > group-v3 (vm) > vm-N
                                          > group-s4 (datastore) > datastore-N (one per host)
                                          > group-n5 (network) > network-7

One call reads the inventory once (`scope`): hosts, pools and VMs the user may view, then per host
and on first use the newest tick's samples (dashboard.stats.latest_tick) and the pools' runtime
(pools.services.runtime). Memory figures keep vSphere's units: quickStats in MB (compressed
memory in KB), ResourcePoolResourceUsage in bytes, allocations in MB.
"""

import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from pyVmomi import vim
from pyVmomi.VmomiSupport import short as VmomiShort  # the wire type of CpuPackage.threadId

from dashboard.access import view_permission
from dashboard.stats import latest_tick
from hostsim.engine import GUEST_OS_PRESETS
from hostsim.models import Host, VirtualMachine
from pools import services
from pools.models import ResourcePool
from vsphere import morefs, registry
from vsphere.soap import VERSION_ID, array_of, conform, declared_type

MB = 1024 * 1024
KB_PER_MB = 1024
DATACENTER_NAME = "vmemlab"
NETWORK_NAME = "VM Network"
DATASTORE_CAPACITY = 2 * 1024**4  # our choice: a 2 TB local VMFS datastore per host
UUID_NAMESPACE = uuid.UUID(
    "5b1c4a2e-6c1e-4d0a-9a55-7f3a6f0d2c11"
)  # the lab's own, for stable uuids
# The engine's guest OS presets -> vSphere guestId (VirtualMachineGuestOsIdentifier) and full
# name; a test checks every preset has one. Windows Server 2022 is windows2019srvNext_64Guest
# (introduced in ESXi 7.0.2, hardware version 19); the aliases are the versions they stand for.
GUEST_IDS = {
    "linux": ("rhel9_64Guest", "Red Hat Enterprise Linux 9 (64-bit)"),
    "windows": ("windows2019srv_64Guest", "Microsoft Windows Server 2019 (64-bit)"),
    "rhel9": ("rhel9_64Guest", "Red Hat Enterprise Linux 9 (64-bit)"),
    "ubuntu2204": ("ubuntu64Guest", "Ubuntu Linux (64-bit)"),
    "win2019": ("windows2019srv_64Guest", "Microsoft Windows Server 2019 (64-bit)"),
    "win2022": ("windows2019srvNext_64Guest", "Microsoft Windows Server 2022 (64-bit)"),
}
GUEST_FAMILIES = {"linux": "linuxGuest", "windows": "windowsGuest"}  # by the preset's family

ABOUT = vim.AboutInfo(
    name="VMware vCenter Server",
    fullName=f"VMware vCenter Server {VERSION_ID[:5]} build-24022515 (vmemlab)",
    vendor="VMware, Inc.",
    version=VERSION_ID[:5],
    build="24022515",
    localeVersion="INTL",
    localeBuild="000",
    osType="linux-x64",
    productLineId="vpx",
    apiType="VirtualCenter",
    apiVersion=VERSION_ID,
    instanceUuid=str(uuid.uuid5(UUID_NAMESPACE, "vcenter")),
    licenseProductName="VMware VirtualCenter Server",
    licenseProductVersion="8.0",
)


def stable_uuid(kind: str, pk: int) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, f"{kind}-{pk}"))


class Inventory:
    """What one call may see, read once."""

    def __init__(self, user):
        self.user = user

        def visible(kind: str) -> bool:
            return user is not None and user.is_active and user.has_perm(view_permission(kind))

        self.hosts = {h.pk: h for h in Host.objects.order_by("name")} if visible("host") else {}
        self.pools = (
            {p.pk: p for p in ResourcePool.objects.filter(host_id__in=self.hosts).order_by("pk")}
            if visible("pool")
            else {}
        )
        self.vms = (
            {
                v.pk: v
                for v in VirtualMachine.objects.filter(host_id__in=self.hosts).order_by("name")
            }
            if visible("vm")
            else {}
        )
        self.root_pools = {p.host_id: p for p in self.pools.values() if p.is_root}
        self._ticks: dict[int, tuple] = {}
        self._runtime: dict[int, dict] = {}

    def samples(self, kind: str, entity) -> dict:
        host_id = entity.pk if kind == "host" else entity.host_id
        if host_id not in self._ticks:
            self._ticks[host_id] = latest_tick(host_id)
        return self._ticks[host_id][1].get((kind, entity.pk), {})

    def sample_time(self, host_id: int):
        if host_id not in self._ticks:
            self._ticks[host_id] = latest_tick(host_id)
        return self._ticks[host_id][0]

    def runtime(self, pool: ResourcePool) -> dict:
        if pool.host_id not in self._runtime:
            self._runtime[pool.host_id] = services.runtime(pool.host_id)
        return self._runtime[pool.host_id].get(pool.pk, {})

    def child_pools(self, pool: ResourcePool) -> list[ResourcePool]:
        return [p for p in self.pools.values() if p.parent_id == pool.pk]

    def pool_vms(self, pool: ResourcePool) -> list[VirtualMachine]:
        return [v for v in self.vms.values() if v.resource_pool_id == pool.pk]

    def host_vms(self, host: Host) -> list[VirtualMachine]:
        return [v for v in self.vms.values() if v.host_id == host.pk]

    def get(self, mo):
        """The row behind a VirtualMachine, HostSystem, ResourcePool, ComputeResource or
        Datastore reference; ManagedObjectNotFound for one that is not (or not visible)."""
        kind = morefs.type_name(mo)
        prefixes = {
            "VirtualMachine": ("vm-", self.vms),
            "HostSystem": ("host-", self.hosts),
            "ResourcePool": ("resgroup-", self.pools),
            "ComputeResource": ("domain-s", self.hosts),
            "Datastore": ("datastore-", self.hosts),
        }
        if kind not in prefixes:
            raise morefs.not_found(mo)
        prefix, rows = prefixes[kind]
        obj = rows.get(morefs.parse_id(mo, prefix))
        if obj is None:
            raise morefs.not_found(mo)
        return obj


_inventory: ContextVar[tuple | None] = ContextVar("vsphere_inventory", default=None)


@contextmanager
def scope(user):
    """Within a call: one Inventory, made on first use, for `user`."""
    token = _inventory.set((user, None))
    try:
        yield
    finally:
        _inventory.reset(token)


def current() -> Inventory:
    user, inv = _inventory.get() or (None, None)
    if inv is None:
        inv = Inventory(user)
        _inventory.set((user, inv))
    return inv


def refresh() -> Inventory:
    """Read again after a write in the same call."""
    user, _ = _inventory.get() or (None, None)
    _inventory.set((user, None))
    return current()


# --- reading properties --------------------------------------------------------------------------


def read_property(mo, path: str):
    """The value of `path` on `mo`, from the readers registered per managed object type."""
    for cls in type(mo).__mro__:
        reader = registry.PROPERTIES.get(cls.__dict__.get("_wsdlName", ""))
        if reader is not None:
            return conform(reader(mo, path), declared_type(type(mo), path))
    raise registry.InvalidProperty(path)


def _walk(value, rest: list[str], path: str):
    for name in rest:
        if value is None:
            return None
        try:
            value._GetPropertyInfo(name)
        except (AttributeError, KeyError):
            raise registry.InvalidProperty(path) from None
        value = getattr(value, name)
    return value


def table_reader(table: dict, lookup):
    """A property reader over {path: fn(row, mo)}: a longer path walks into the value of the
    longest listed prefix (summary.quickStats.guestMemoryUsage from summary.quickStats)."""

    def read(mo, path: str):
        if not isinstance(path, str) or not path:
            raise registry.InvalidProperty(str(path))
        row = lookup(mo)
        if path in table:
            return table[path](row, mo)
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in table:
                return _walk(table[prefix](row, mo), parts[cut:], path)
        raise registry.InvalidProperty(path)

    read.paths = [p for p in table if "." not in p]
    return read


ALL_PATHS: dict[str, list[str]] = {}  # mo type -> the properties `all=True` returns


def register_table(mo_type: str, table: dict, lookup) -> None:
    reader = table_reader(table, lookup)
    ALL_PATHS[mo_type] = reader.paths
    registry.properties(mo_type)(reader)


def _entity_basics(name, parent, status="green"):
    return {
        "name": lambda row, mo: name(row, mo),
        "parent": lambda row, mo: parent(row, mo),
        "overallStatus": lambda row, mo: status,
        "configStatus": lambda row, mo: "green",
        "alarmActionsEnabled": lambda row, mo: True,
        "availableField": lambda row, mo: array_of(vim.CustomFieldsManager.FieldDef),
        "customValue": lambda row, mo: array_of(vim.CustomFieldsManager.Value),
        "declaredAlarmState": lambda row, mo: array_of(vim.alarm.AlarmState),
        "disabledMethod": lambda row, mo: array_of(str),
        "effectiveRole": lambda row, mo: array_of(int, [-1]),
        "recentTask": lambda row, mo: array_of(vim.Task),
        "tag": lambda row, mo: array_of(vim.Tag),
        "triggeredAlarmState": lambda row, mo: array_of(vim.alarm.AlarmState),
        "value": lambda row, mo: array_of(vim.CustomFieldsManager.Value),
    }


# --- folders and the datacenter ------------------------------------------------------------------

FOLDERS = {
    morefs.ROOT_FOLDER: ("Datacenters", None, ["Folder", "Datacenter"]),
    morefs.HOST_FOLDER: ("host", morefs.DATACENTER, ["Folder", "ComputeResource"]),
    morefs.VM_FOLDER: ("vm", morefs.DATACENTER, ["Folder", "VirtualMachine", "VirtualApp"]),
    morefs.DATASTORE_FOLDER: ("datastore", morefs.DATACENTER, ["Folder", "Datastore"]),
    morefs.NETWORK_FOLDER: ("network", morefs.DATACENTER, ["Folder", "Network"]),
}


def folder_children(folder_id: str) -> list:
    inv = current()
    if folder_id == morefs.ROOT_FOLDER:
        return [vim.Datacenter(morefs.DATACENTER)]
    if folder_id == morefs.HOST_FOLDER:
        return [morefs.compute_resource(pk) for pk in inv.hosts]
    if folder_id == morefs.VM_FOLDER:
        return [morefs.moref(vm) for vm in inv.vms.values()]
    if folder_id == morefs.DATASTORE_FOLDER:
        return [morefs.datastore(pk) for pk in inv.hosts]
    if folder_id == morefs.NETWORK_FOLDER:
        return [vim.Network(morefs.NETWORK)]
    return []


def _folder(mo):
    if mo._moId not in FOLDERS:
        raise morefs.not_found(mo)
    return FOLDERS[mo._moId]


register_table(
    "Folder",
    {
        **_entity_basics(lambda f, mo: f[0], lambda f, mo: vim.Datacenter(f[1]) if f[1] else None),
        "childEntity": lambda f, mo: array_of(vim.ManagedEntity, folder_children(mo._moId)),
        "childType": lambda f, mo: array_of(str, f[2]),
    },
    _folder,
)


def _datacenter(mo):
    if mo._moId != morefs.DATACENTER:
        raise morefs.not_found(mo)
    return mo


register_table(
    "Datacenter",
    {
        **_entity_basics(
            lambda dc, mo: DATACENTER_NAME, lambda dc, mo: vim.Folder(morefs.ROOT_FOLDER)
        ),
        "vmFolder": lambda dc, mo: vim.Folder(morefs.VM_FOLDER),
        "hostFolder": lambda dc, mo: vim.Folder(morefs.HOST_FOLDER),
        "datastoreFolder": lambda dc, mo: vim.Folder(morefs.DATASTORE_FOLDER),
        "networkFolder": lambda dc, mo: vim.Folder(morefs.NETWORK_FOLDER),
        "datastore": lambda dc, mo: array_of(
            vim.Datastore, folder_children(morefs.DATASTORE_FOLDER)
        ),
        "network": lambda dc, mo: array_of(vim.Network, [vim.Network(morefs.NETWORK)]),
        "overallStatus": lambda dc, mo: "green",
    },
    _datacenter,
)


def _network(mo):
    if mo._moId != morefs.NETWORK:
        raise morefs.not_found(mo)
    return mo


register_table(
    "Network",
    {
        **_entity_basics(
            lambda n, mo: NETWORK_NAME, lambda n, mo: vim.Folder(morefs.NETWORK_FOLDER)
        ),
        "summary": lambda n, mo: vim.Network.Summary(
            network=mo, name=NETWORK_NAME, accessible=True, ipPoolName=""
        ),
        "host": lambda n, mo: array_of(
            vim.HostSystem, [morefs.moref(h) for h in current().hosts.values()]
        ),
        "vm": lambda n, mo: array_of(
            vim.VirtualMachine, [morefs.moref(v) for v in current().vms.values()]
        ),
    },
    _network,
)


# --- hosts -------------------------------------------------------------------------------------


def _datastore_name(host: Host) -> str:
    return f"datastore-{host.name}"


def _datastore_summary(host: Host, mo):
    return vim.Datastore.Summary(
        datastore=mo,
        name=_datastore_name(host),
        url=f"ds:///vmfs/volumes/{stable_uuid('ds', host.pk)}/",
        capacity=DATASTORE_CAPACITY,
        freeSpace=DATASTORE_CAPACITY // 2,
        accessible=True,
        multipleHostAccess=False,
        type="VMFS",
        maintenanceMode="normal",
    )


register_table(
    "Datastore",
    {
        **_entity_basics(
            lambda h, mo: _datastore_name(h), lambda h, mo: vim.Folder(morefs.DATASTORE_FOLDER)
        ),
        "summary": _datastore_summary,
        "host": lambda h, mo: array_of(
            vim.Datastore.HostMount,
            [
                vim.Datastore.HostMount(
                    key=morefs.moref(h),
                    mountInfo=vim.host.MountInfo(
                        accessMode="readWrite", mounted=True, accessible=True
                    ),
                )
            ],
        ),
        "vm": lambda h, mo: array_of(
            vim.VirtualMachine, [morefs.moref(v) for v in current().host_vms(h)]
        ),
        "info": lambda h, mo: vim.host.VmfsDatastoreInfo(
            name=_datastore_name(h),
            url=_datastore_summary(h, mo).url,
            freeSpace=DATASTORE_CAPACITY // 2,
            maxFileSize=62 * 1024**4,
            maxVirtualDiskCapacity=62 * 1024**4,
            maxMemoryFileSize=62 * 1024**4,
            containerId=stable_uuid("ds", h.pk),
        ),
    },
    lambda mo: current().get(mo),
)


CORE_MHZ = 2000  # our choice: the lab's hosts are made of 2 GHz cores


def cpu_cores(host: Host) -> int:
    return max(1, host.cpu_mhz // CORE_MHZ)


def _host_hardware_summary(host: Host):
    cores = cpu_cores(host)
    return vim.host.Summary.HardwareSummary(
        vendor="vmemlab",
        model="Simulated ESXi host",
        uuid=stable_uuid("host", host.pk),
        memorySize=host.memory_mb * MB,
        cpuModel="vmemlab virtual CPU",
        cpuMhz=CORE_MHZ,
        numCpuPkgs=1,
        numCpuCores=cores,
        numCpuThreads=cores,
        numNics=1,
        numHBAs=1,
    )


def _host_quick_stats(host: Host):
    values = current().samples("host", host)
    return vim.host.Summary.QuickStats(
        overallMemoryUsage=int(values.get("mem.consumed", 0)) // KB_PER_MB,
        overallCpuUsage=0,
        distributedMemoryFairness=0,
        distributedCpuFairness=0,
        uptime=0,
    )


def _host_runtime(host: Host):
    return vim.host.RuntimeInfo(
        connectionState="connected",
        powerState="poweredOn",
        inMaintenanceMode=False,
        standbyMode="none",
        bootTime=host.created,
    )


def host_options(host: Host):
    """configManager.advancedOption's values: the host's Mem.* advanced settings."""
    return array_of(
        vim.option.OptionValue,
        [
            vim.option.OptionValue(key=name, value=int(value))
            for name, value in sorted(host.settings.items())
        ],
    )


def _product():
    return vim.AboutInfo(
        name="VMware ESXi",
        fullName="VMware ESXi 8.0.3 build-24022510 (vmemlab)",
        vendor="VMware, Inc.",
        version="8.0.3",
        build="24022510",
        osType="vmnix-x86",
        productLineId="embeddedEsx",
        apiType="HostAgent",
        apiVersion=VERSION_ID,
    )


def _host_hardware(host: Host):
    cores = cpu_cores(host)
    return vim.host.HardwareInfo(
        systemInfo=vim.host.SystemInfo(
            vendor="vmemlab", model="Simulated ESXi host", uuid=stable_uuid("host", host.pk)
        ),
        cpuInfo=vim.host.CpuInfo(
            numCpuPackages=1, numCpuCores=cores, numCpuThreads=cores, hz=CORE_MHZ * 1_000_000
        ),
        cpuPkg=array_of(
            vim.host.CpuPackage,
            [
                vim.host.CpuPackage(
                    index=0,
                    vendor="intel",
                    hz=CORE_MHZ * 1_000_000,
                    busHz=100_000_000,
                    description="vmemlab virtual CPU",
                    threadId=array_of(VmomiShort, list(range(min(cores, 32767)))),
                )
            ],
        ),
        memorySize=host.memory_mb * MB,
        smcPresent=False,
    )


register_table(
    "HostSystem",
    {
        **_entity_basics(lambda h, mo: h.name, lambda h, mo: morefs.compute_resource(h.pk)),
        "summary": lambda h, mo: vim.host.Summary(
            host=mo,
            hardware=_host_hardware_summary(h),
            runtime=_host_runtime(h),
            config=vim.host.Summary.ConfigSummary(
                name=h.name,
                port=443,
                vmotionEnabled=False,
                faultToleranceEnabled=False,
                product=_product(),
            ),
            quickStats=_host_quick_stats(h),
            overallStatus="green",
            rebootRequired=False,
            managementServerIp="127.0.0.1",
        ),
        "summary.hardware.memorySize": lambda h, mo: h.memory_mb * MB,
        "hardware": lambda h, mo: _host_hardware(h),
        "hardware.memorySize": lambda h, mo: h.memory_mb * MB,
        "runtime": lambda h, mo: _host_runtime(h),
        "config": lambda h, mo: vim.host.ConfigInfo(
            host=mo, product=_product(), option=host_options(h)
        ),
        "config.option": lambda h, mo: host_options(h),
        "configManager": lambda h, mo: vim.host.ConfigManager(
            advancedOption=morefs.host_options(h.pk)
        ),
        "vm": lambda h, mo: array_of(
            vim.VirtualMachine, [morefs.moref(v) for v in current().host_vms(h)]
        ),
        "datastore": lambda h, mo: array_of(vim.Datastore, [morefs.datastore(h.pk)]),
        "network": lambda h, mo: array_of(vim.Network, [vim.Network(morefs.NETWORK)]),
    },
    lambda mo: current().get(mo),
)


def _compute_summary(host: Host):
    capacity = services.capacity_for_vms(host)
    cores = cpu_cores(host)
    return vim.ComputeResource.Summary(
        totalCpu=host.cpu_mhz,
        totalMemory=host.memory_mb * MB,
        numCpuCores=cores,
        numCpuThreads=cores,
        effectiveCpu=capacity["cpu"],
        effectiveMemory=capacity["memory"],
        numHosts=1,
        numEffectiveHosts=1,
        overallStatus="green",
    )


def _root_pool(host: Host):
    root = current().root_pools.get(host.pk)
    return morefs.moref(root) if root is not None else None


register_table(
    "ComputeResource",
    {
        **_entity_basics(lambda h, mo: h.name, lambda h, mo: vim.Folder(morefs.HOST_FOLDER)),
        "host": lambda h, mo: array_of(vim.HostSystem, [morefs.moref(h)]),
        "resourcePool": lambda h, mo: _root_pool(h),
        "datastore": lambda h, mo: array_of(vim.Datastore, [morefs.datastore(h.pk)]),
        "network": lambda h, mo: array_of(vim.Network, [vim.Network(morefs.NETWORK)]),
        "summary": lambda h, mo: _compute_summary(h),
    },
    lambda mo: current().get(mo),
)


# --- resource pools --------------------------------------------------------------------------


def allocation_info(entity, resource: str, *, pool: bool) -> vim.ResourceAllocationInfo:
    alloc = services.allocation_of(entity, resource)
    return vim.ResourceAllocationInfo(
        reservation=alloc.reservation,
        limit=alloc.limit,
        expandableReservation=alloc.expandable if pool else False,
        shares=vim.SharesInfo(level=alloc.shares_level, shares=alloc.shares),
        overheadLimit=None,
    )


def resource_config(entity, mo, *, pool: bool):
    return vim.ResourceConfigSpec(
        entity=mo,
        changeVersion=str(getattr(entity, "config_version", 1)),
        cpuAllocation=allocation_info(entity, "cpu", pool=pool),
        memoryAllocation=allocation_info(entity, "memory", pool=pool),
    )


def _usage(runtime: dict, resource: str, scale: int, overall: int):
    usage = runtime.get(resource, {})
    return vim.ResourcePool.ResourceUsage(
        reservationUsed=usage.get("reservationUsed", 0) * scale,
        reservationUsedForVm=usage.get("reservationUsedForVm", 0) * scale,
        unreservedForPool=usage.get("unreservedForPool", 0) * scale,
        unreservedForVm=usage.get("unreservedForVm", 0) * scale,
        overallUsage=overall,
        maxUsage=usage.get("maxUsage", -1) * scale if usage.get("maxUsage", -1) >= 0 else -1,
    )


def pool_runtime(pool: ResourcePool):
    inv = current()
    values = (
        inv.samples("pool", pool)
        if not pool.is_root
        else inv.samples("host", inv.hosts[pool.host_id])
    )
    runtime = inv.runtime(pool)
    return vim.ResourcePool.RuntimeInfo(
        memory=_usage(runtime, "memory", MB, int(values.get("mem.consumed", 0)) * 1024),
        cpu=_usage(runtime, "cpu", 1, 0),
        overallStatus="green",
    )


def _pool_quick_stats(pool: ResourcePool):
    inv = current()
    values = inv.samples("pool", pool)
    if pool.is_root and not values:
        values = {}
        for vm in inv.host_vms(inv.hosts[pool.host_id]):
            for key, value in inv.samples("vm", vm).items():
                if isinstance(value, int | float):
                    values[key] = values.get(key, 0) + value
    mb = _mb_of(values)
    return vim.ResourcePool.Summary.QuickStats(
        overallCpuUsage=0,
        overallCpuDemand=0,
        guestMemoryUsage=mb("mem.active"),
        hostMemoryUsage=mb("mem.consumed") + mb("mem.overhead"),
        distributedCpuEntitlement=0,
        distributedMemoryEntitlement=mb("mem.entitlement"),
        staticCpuEntitlement=0,
        staticMemoryEntitlement=0,
        privateMemory=max(0, mb("mem.granted") - mb("mem.shared")),
        sharedMemory=mb("mem.shared"),
        swappedMemory=mb("mem.swapped"),
        balloonedMemory=mb("mem.vmmemctl"),
        overheadMemory=mb("mem.overhead"),
        consumedOverheadMemory=mb("mem.overhead"),
        compressedMemory=int(values.get("mem.compressed", 0)),
    )


def _pool_parent(pool: ResourcePool, mo):
    return (
        morefs.compute_resource(pool.host_id)
        if pool.is_root
        else vim.ResourcePool(f"resgroup-{pool.parent_id}")
    )


register_table(
    "ResourcePool",
    {
        **_entity_basics(lambda p, mo: p.name, _pool_parent),
        "owner": lambda p, mo: morefs.compute_resource(p.host_id),
        "resourcePool": lambda p, mo: array_of(
            vim.ResourcePool, [morefs.moref(c) for c in current().child_pools(p)]
        ),
        "vm": lambda p, mo: array_of(
            vim.VirtualMachine, [morefs.moref(v) for v in current().pool_vms(p)]
        ),
        "config": lambda p, mo: resource_config(p, mo, pool=True),
        "runtime": lambda p, mo: pool_runtime(p),
        "summary": lambda p, mo: vim.ResourcePool.Summary(
            name=p.name,
            config=resource_config(p, mo, pool=True),
            runtime=pool_runtime(p),
            quickStats=_pool_quick_stats(p),
            configuredMemoryMB=sum(v.memory_mb for v in current().pool_vms(p)),
        ),
        "childConfiguration": lambda p, mo: array_of(
            vim.ResourceConfigSpec,
            [resource_config(c, morefs.moref(c), pool=True) for c in current().child_pools(p)]
            + [resource_config(v, morefs.moref(v), pool=False) for v in current().pool_vms(p)],
        ),
    },
    lambda mo: current().get(mo),
)


# --- virtual machines ----------------------------------------------------------------------------


def _mb_of(values: dict):
    return lambda key: int(values.get(key, 0)) // KB_PER_MB


def vm_quick_stats(vm: VirtualMachine):
    values = current().samples("vm", vm) if vm.powered_on else {}
    mb = _mb_of(values)
    # The memory figures the lab simulates, and no CPU or fault-tolerance ones it would have to
    # make up (each field costs every client parse time: 64 VMs' worth in one RetrieveContents).
    return vim.vm.Summary.QuickStats(
        overallCpuUsage=0,
        guestMemoryUsage=mb("mem.active"),
        hostMemoryUsage=mb("mem.consumed") + mb("mem.overhead"),
        guestHeartbeatStatus="green" if vm.powered_on else "gray",
        distributedMemoryEntitlement=mb("mem.entitlement"),
        grantedMemory=mb("mem.granted"),
        privateMemory=max(0, mb("mem.granted") - mb("mem.shared")),
        sharedMemory=mb("mem.shared"),
        swappedMemory=mb("mem.swapped"),
        balloonedMemory=mb("mem.vmmemctl"),
        consumedOverheadMemory=mb("mem.overhead"),
        compressedMemory=int(values.get("mem.compressed", 0)),  # KB, as the API says
    )


def _vm_runtime(vm: VirtualMachine, mo):
    return vim.vm.RuntimeInfo(
        host=vim.HostSystem(f"host-{vm.host_id}"),
        connectionState="connected",
        powerState=vm.power_state,
        faultToleranceState="notConfigured",
        toolsInstallerMounted=False,
        numMksConnections=0,
        recordReplayState="inactive",
        onlineStandby=False,
        consolidationNeeded=False,
        maxMemoryUsage=vm.memory_mb,
        maxCpuUsage=vm.vcpus * CORE_MHZ,
        paused=False,
        snapshotInBackground=False,
    )


def _guest_family(guest_os: str) -> str:
    preset = GUEST_OS_PRESETS.get(guest_os)
    return GUEST_FAMILIES[preset.family] if preset is not None else "otherGuestFamily"


def _vm_guest(vm: VirtualMachine, mo):
    guest_id, full_name = GUEST_IDS.get(vm.guest_os, ("otherGuest64", "Other (64-bit)"))
    on = vm.powered_on
    return vim.vm.GuestInfo(
        guestState="running" if on else "notRunning",
        guestId=guest_id,
        guestFullName=full_name,
        guestFamily=_guest_family(vm.guest_os),
        toolsStatus="toolsOk" if on else "toolsNotRunning",
        toolsRunningStatus="guestToolsRunning" if on else "guestToolsNotRunning",
        toolsVersionStatus2="guestToolsCurrent",
        hostName=vm.name,
        net=array_of(vim.vm.GuestInfo.NicInfo),
        disk=array_of(vim.vm.GuestInfo.DiskInfo),
    )


def _vm_path(vm: VirtualMachine) -> str:
    return f"[datastore-{current().hosts[vm.host_id].name}] {vm.name}/{vm.name}.vmx"


def _vm_summary(vm: VirtualMachine, mo):
    guest = _vm_guest(vm, mo)
    return vim.vm.Summary(
        vm=mo,
        runtime=_vm_runtime(vm, mo),
        guest=vim.vm.Summary.GuestSummary(
            guestId=guest.guestId,
            guestFullName=guest.guestFullName,
            toolsStatus=guest.toolsStatus,
            toolsVersionStatus2=guest.toolsVersionStatus2,
            toolsRunningStatus=guest.toolsRunningStatus,
            hostName=vm.name,
        ),
        config=vim.vm.Summary.ConfigSummary(
            name=vm.name,
            template=False,
            vmPathName=_vm_path(vm),
            memorySizeMB=vm.memory_mb,
            cpuReservation=vm.cpu_reservation,
            memoryReservation=vm.memory_reservation,
            numCpu=vm.vcpus,
            numEthernetCards=0,
            numVirtualDisks=0,
            uuid=stable_uuid("bios", vm.pk),
            instanceUuid=stable_uuid("vm", vm.pk),
            guestId=guest.guestId,
            guestFullName=guest.guestFullName,
            annotation="",
        ),
        storage=vim.vm.Summary.StorageSummary(
            committed=0, uncommitted=0, unshared=0, timestamp=datetime.now(UTC)
        ),
        quickStats=vm_quick_stats(vm),
        overallStatus="green",
    )


def extra_config(vm: VirtualMachine):
    options = [
        vim.option.OptionValue(
            key="sched.mem.pshare.enable", value="TRUE" if vm.pshare_enabled else "FALSE"
        )
    ]
    if vm.pshare_salt:
        options.append(vim.option.OptionValue(key="sched.mem.pshare.salt", value=vm.pshare_salt))
    return array_of(vim.option.OptionValue, options)


def _vm_hardware(vm: VirtualMachine, mo):
    return vim.vm.VirtualHardware(
        numCPU=vm.vcpus,
        numCoresPerSocket=1,
        memoryMB=vm.memory_mb,
        virtualICH7MPresent=False,
        virtualSMCPresent=False,
        device=array_of(vim.vm.device.VirtualDevice),
    )


def _vm_config(vm: VirtualMachine, mo):
    guest_id, full_name = GUEST_IDS.get(vm.guest_os, ("otherGuest64", "Other (64-bit)"))
    return vim.vm.ConfigInfo(
        changeVersion=str(vm.config_version),
        modified=datetime(1970, 1, 1, tzinfo=UTC),
        name=vm.name,
        guestFullName=full_name,
        version="vmx-21",
        uuid=stable_uuid("bios", vm.pk),
        instanceUuid=stable_uuid("vm", vm.pk),
        template=False,
        guestId=guest_id,
        alternateGuestName="",
        annotation="",
        files=vim.vm.FileInfo(vmPathName=_vm_path(vm)),
        flags=vim.vm.FlagInfo(),
        defaultPowerOps=vim.vm.DefaultPowerOpInfo(),
        hardware=_vm_hardware(vm, mo),
        cpuAllocation=allocation_info(vm, "cpu", pool=False),
        memoryAllocation=allocation_info(vm, "memory", pool=False),
        memoryHotAddEnabled=False,
        cpuHotAddEnabled=False,
        extraConfig=extra_config(vm),
    )


register_table(
    "VirtualMachine",
    {
        **_entity_basics(lambda v, mo: v.name, lambda v, mo: vim.Folder(morefs.VM_FOLDER)),
        "resourcePool": lambda v, mo: (
            vim.ResourcePool(f"resgroup-{v.resource_pool_id}") if v.resource_pool_id else None
        ),
        "runtime": _vm_runtime,
        "runtime.powerState": lambda v, mo: v.power_state,
        "runtime.host": lambda v, mo: vim.HostSystem(f"host-{v.host_id}"),
        "summary": _vm_summary,
        "summary.quickStats": lambda v, mo: vm_quick_stats(v),
        "guest": _vm_guest,
        "config": _vm_config,
        "config.hardware": _vm_hardware,
        "config.memoryAllocation": lambda v, mo: allocation_info(v, "memory", pool=False),
        "config.extraConfig": lambda v, mo: extra_config(v),
        "resourceConfig": lambda v, mo: resource_config(v, mo, pool=False),
        "datastore": lambda v, mo: array_of(vim.Datastore, [morefs.datastore(v.host_id)]),
        "network": lambda v, mo: array_of(vim.Network, [vim.Network(morefs.NETWORK)]),
        "guestHeartbeatStatus": lambda v, mo: "green" if v.powered_on else "gray",
        "snapshot": lambda v, mo: None,
        "layoutEx": lambda v, mo: None,
    },
    lambda mo: current().get(mo),
)


# --- the inventory's paths (SearchIndex) ----------------------------------------------------------


def name_of(mo) -> str:
    return read_property(mo, "name")


def children_of(mo) -> list:
    """The inventory children FindChild and inventory paths walk through."""
    kind = morefs.type_name(mo)
    if kind == "Folder":
        return folder_children(mo._moId)
    if kind == "Datacenter":
        return [
            vim.Folder(f)
            for f in (
                morefs.VM_FOLDER,
                morefs.HOST_FOLDER,
                morefs.DATASTORE_FOLDER,
                morefs.NETWORK_FOLDER,
            )
        ]
    if kind == "ComputeResource":
        host = current().get(mo)
        root = _root_pool(host)
        return [morefs.moref(host)] + ([root] if root else [])
    if kind == "ResourcePool":
        pool = current().get(mo)
        return [morefs.moref(c) for c in current().child_pools(pool)] + [
            morefs.moref(v) for v in current().pool_vms(pool)
        ]
    return []


def find_child(entity, name: str):
    for child in children_of(entity):
        if name_of(child) == name:
            return child
    return None


@registry.method("SearchIndex", "FindChild")
def search_find_child(call: registry.Call):
    entity = call.args["entity"]
    read_property(entity, "name")  # ManagedObjectNotFound for an entity that is not there
    return find_child(entity, call.args["name"])


@registry.method("SearchIndex", "FindByInventoryPath")
def search_by_inventory_path(call: registry.Call):
    """ "datacenter-name/vm/web01" from the root folder; a "/" inside a name is written "%2f"."""
    path = str(call.args["inventoryPath"]).strip("/")
    node = vim.Folder(morefs.ROOT_FOLDER)
    for part in path.split("/") if path else []:
        node = find_child(node, part.replace("%2f", "/").replace("%2F", "/"))
        if node is None:
            return None
    return node
