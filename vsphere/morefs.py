"""Managed object ids as vCenter names them (vm-42, host-3, resgroup-7, group-v3 ...)."""

from pyVmomi import vim, vmodl

from hostsim.models import Host, VirtualMachine
from pools.models import ResourcePool

DATACENTER = "datacenter-1"
ROOT_FOLDER = "group-d1"
HOST_FOLDER = "group-h2"
VM_FOLDER = "group-v3"
DATASTORE_FOLDER = "group-s4"
NETWORK_FOLDER = "group-n5"
NETWORK = "network-7"


def parse_id(mo, prefix: str) -> int:
    """The database id in mo's id after prefix; ManagedObjectNotFound if it has none."""
    suffix = mo._moId[len(prefix) :] if mo._moId.startswith(prefix) else ""
    if not suffix.isascii() or not suffix.isdigit() or len(suffix) > 18:
        raise not_found(mo)
    return int(suffix)


def not_found(mo) -> vmodl.fault.ManagedObjectNotFound:
    return vmodl.fault.ManagedObjectNotFound(
        msg=(
            f"The object '{type_name(mo)}:{mo._moId}' has already been deleted or has not been "
            "completely created"
        ),
        obj=mo,
    )


def moref(obj):
    """The managed object reference of a Django Host, ResourcePool or VirtualMachine."""
    if isinstance(obj, VirtualMachine):
        return vim.VirtualMachine(f"vm-{obj.pk}")
    if isinstance(obj, Host):
        return vim.HostSystem(f"host-{obj.pk}")
    if isinstance(obj, ResourcePool):
        return vim.ResourcePool(f"resgroup-{obj.pk}")
    raise TypeError(f"no managed object for {type(obj).__name__}")


def compute_resource(host_pk: int):
    return vim.ComputeResource(f"domain-s{host_pk}")


def datastore(host_pk: int):
    return vim.Datastore(f"datastore-{host_pk}")


# The service's one-of-a-kind objects, with the ids vCenter gives them.
SINGLETONS = {
    "ServiceInstance": "ServiceInstance",
    "SessionManager": "SessionManager",
    "ViewManager": "ViewManager",
    "SearchIndex": "SearchIndex",
    "PerformanceManager": "PerfMgr",
    "TaskManager": "TaskManager",
    "UserDirectory": "UserDirectory",
    "AuthorizationManager": "AuthorizationManager",
}
SESSION_MANAGER = vim.SessionManager("SessionManager")
VIEW_MANAGER = vim.view.ViewManager("ViewManager")
SEARCH_INDEX = vim.SearchIndex("SearchIndex")
PERF_MANAGER = vim.PerformanceManager("PerfMgr")
TASK_MANAGER = vim.TaskManager("TaskManager")
USER_DIRECTORY = vim.UserDirectory("UserDirectory")
AUTHORIZATION_MANAGER = vim.AuthorizationManager("AuthorizationManager")
PROPERTY_COLLECTOR = vmodl.query.PropertyCollector("propertyCollector")
VPX_SETTINGS = vim.option.OptionManager("VpxSettings")


def type_name(mo) -> str:
    return type(mo)._wsdlName


def check_singleton(mo) -> None:
    """ManagedObjectNotFound for a service object under an id the service does not give it."""
    expected = SINGLETONS.get(type_name(mo))
    if expected is not None and mo._moId != expected:
        raise not_found(mo)


def host_options(host_pk: int):
    """The host's OptionManager (configManager.advancedOption)."""
    return vim.option.OptionManager(f"EsxHostAdvSettings-{host_pk}")
