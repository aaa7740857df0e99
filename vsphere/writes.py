"""Writes: thin layers over pools.services, which owns every rule (admission control, names,
power state changes); this module only translates vSphere's arguments in and its faults out.

Task methods (PowerOnVM_Task, ReconfigVM_Task, Destroy_Task ...) run their service call before
they answer, so the Task they return has already ended, in success or in error with the fault
(the rules are decided under one transaction; there is nothing to queue). A Task's info is kept
in Django's cache (Redis) for TASK_RETENTION_S, readable by the user who started it and by
administrators.
"""

from datetime import UTC, datetime

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from pyVmomi import VmomiSupport, vim, vmodl

from dashboard.access import change_permission
from hostsim.models import PowerState
from pools import admission, services
from pools.errors import AdmissionDenied, DuplicateName, InvalidOperation, InvalidPowerState
from pools.errors import ManagedObjectNotFound as GoneMeanwhile
from vsphere import inventory, morefs, registry, soap

TASK_RETENTION_S = 10 * 60  # vCenter keeps recent tasks about this long in its task list
SHARE_LEVELS = ("low", "normal", "high", "custom")
PSHARE_ENABLE = "sched.mem.pshare.enable"
PSHARE_SALT = "sched.mem.pshare.salt"


# --- permissions and faults ---------------------------------------------------------------------


def require_change(call: registry.Call, kind: str, privilege: str) -> None:
    """NoPermission unless the user holds the model's change permission (the JSON API's rule)."""
    if not call.user.has_perm(change_permission(kind)):
        raise vim.fault.NoPermission(
            msg=f"Permission to perform this operation was denied ({privilege}).",
            object=call.this,
            privilegeId=privilege,
        )


# A refused model field -> the property of the spec a vSphere client sent (ResourceConfigSpec,
# VirtualMachineConfigSpec), for InvalidArgument.invalidProperty.
_ALLOCATION_PATHS = {
    "reservation": "reservation",
    "limit": "limit",
    "expandable": "expandableReservation",
    "shares_level": "shares.level",
    "shares": "shares.shares",
}
SPEC_PROPERTY = {
    **{
        f"{resource}_{part}": f"{resource}Allocation.{path}"
        for resource in ("cpu", "memory")
        for part, path in _ALLOCATION_PATHS.items()
    },
    "memory_mb": "memoryMB",
    "vcpus": "numCPUs",
    "name": "name",
    "guest_os": "guestId",
    "pshare_enabled": f"extraConfig[{PSHARE_ENABLE}]",
    "pshare_salt": f"extraConfig[{PSHARE_SALT}]",
}


def spec_property(fields: dict) -> str | None:
    """The vSphere name of the first refused field (None when none is named)."""
    first = next(iter(fields), None)
    return SPEC_PROPERTY.get(first, first)


def fault_of(exc: Exception, this, name: str | None = None) -> vmodl.MethodFault:
    """The vSphere fault for a refusal of pools.services (or of model validation)."""
    if isinstance(exc, AdmissionDenied):
        if exc.resource == "cpu":  # MHz, as pools.services counts it
            return vim.fault.InsufficientCpuResourcesFault(
                msg=str(exc), unreserved=exc.unreserved, requested=exc.requested
            )
        # Memory in bytes, as the API reference gives InsufficientMemoryResourcesFault's figures.
        return vim.fault.InsufficientMemoryResourcesFault(
            msg=str(exc),
            unreserved=exc.unreserved * inventory.MB,
            requested=exc.requested * inventory.MB,
        )
    if isinstance(exc, GoneMeanwhile):
        return morefs.not_found(this)
    if isinstance(exc, InvalidPowerState):
        return vim.fault.InvalidPowerState(
            msg=str(exc), requestedState=exc.requested, existingState=exc.existing
        )
    if isinstance(exc, DuplicateName):
        return vim.fault.DuplicateName(msg=str(exc), name=exc.name, object=this)
    if isinstance(exc, InvalidOperation):
        fields = exc.fields
        if "name" in fields:
            return vim.fault.InvalidName(msg=str(exc), name=name or "")
        return vmodl.fault.InvalidArgument(msg=str(exc), invalidProperty=spec_property(fields))
    if isinstance(exc, DjangoValidationError):
        fields = getattr(exc, "message_dict", {})
        return vmodl.fault.InvalidArgument(
            msg=" ".join(exc.messages), invalidProperty=spec_property(fields)
        )
    raise exc


def _run(action, this, name=None):
    try:
        return action()
    except (AdmissionDenied, InvalidOperation, DjangoValidationError) as exc:
        raise fault_of(exc, this, name) from None


# --- tasks ---------------------------------------------------------------------------------------


def _task_key(task_id: str) -> str:
    return f"vsphere-task:{task_id}"


def run_task(call: registry.Call, method: str, description_id: str, action) -> vim.Task:
    """Run `action` as the body of a Task on call.this; the Task has ended when this returns."""
    cache.add("vsphere-task-seq", 0, timeout=None)
    task_id = f"task-{cache.incr('vsphere-task-seq')}"
    task = vim.Task(task_id)
    started = datetime.now(UTC)
    try:
        entity_name = inventory.read_property(call.this, "name")
    except vmodl.MethodFault:
        entity_name = None
    info = vim.TaskInfo(
        key=task_id,
        task=task,
        descriptionId=description_id,
        name=VmomiSupport.GetWsdlMethod(soap.VIM_NS, method),
        entity=call.this,
        entityName=entity_name,
        state="running",
        cancelled=False,
        cancelable=False,
        reason=vim.TaskReasonUser(userName=call.user.get_username()),
        queueTime=started,
        startTime=started,
        eventChainId=int(task_id.split("-")[1]),
        progress=0,
    )
    try:
        info.result = action()
        info.state = "success"
        info.progress = 100
    except vmodl.MethodFault as fault:
        info.state = "error"
        info.error = fault
    except (AdmissionDenied, InvalidOperation, DjangoValidationError) as exc:
        info.state = "error"
        info.error = fault_of(exc, call.this, entity_name)
    info.completeTime = datetime.now(UTC)
    kept = {"user": call.user.pk, "info": soap.dump(info, vim.TaskInfo)}
    cache.set(_task_key(task_id), kept, timeout=TASK_RETENTION_S)
    return task


@registry.properties("Task")
def task_property(mo, path: str):
    kept = cache.get(_task_key(mo._moId))
    reader = inventory.current().user
    # A task is its starter's (and an administrator's): ids are sequential, so anyone else could
    # read what another user did, and to what.
    if kept is None or reader is None or not (reader.is_superuser or reader.pk == kept["user"]):
        raise morefs.not_found(mo)
    info = soap.load(kept["info"], vim.TaskInfo)
    if path == "info":
        return info
    if path.startswith("info."):
        value = info
        for name in path.split(".")[1:]:
            if not hasattr(value, "_GetPropertyInfo"):
                raise registry.InvalidProperty(path)
            try:
                value._GetPropertyInfo(name)
            except (AttributeError, KeyError):
                raise registry.InvalidProperty(path) from None
            value = getattr(value, name)
        return value
    raise registry.InvalidProperty(path)


# --- allocations ---------------------------------------------------------------------------------


def allocation_from(info, current: admission.Allocation, prop: str) -> admission.Allocation:
    """ResourceAllocationInfo -> Allocation; what the client leaves unset stays `current`."""
    if info is None:
        return current
    if not isinstance(info, vim.ResourceAllocationInfo):
        raise soap.invalid_argument(prop, f"{prop} must be a ResourceAllocationInfo.")
    level, shares = current.shares_level, current.shares
    if info.shares is not None:
        level = str(info.shares.level) if info.shares.level is not None else level
        if level not in SHARE_LEVELS:
            raise soap.invalid_argument(
                f"{prop}.shares.level",
                f"Shares level {level!r} is not one of {', '.join(SHARE_LEVELS)}.",
            )
        shares = info.shares.shares if info.shares.shares is not None else shares
    return admission.Allocation(
        reservation=info.reservation if info.reservation is not None else current.reservation,
        limit=info.limit if info.limit is not None else current.limit,
        expandable=info.expandableReservation
        if info.expandableReservation is not None
        else current.expandable,
        shares_level=level,
        shares=shares,
    )


def _spec_allocations(spec, pool=None):
    if spec is not None and not isinstance(spec, vim.ResourceConfigSpec):
        raise soap.invalid_argument("spec", "spec must be a ResourceConfigSpec.")
    cpu_now = (
        services.allocation_of(pool, "cpu") if pool is not None else admission.NEW_POOL_ALLOCATION
    )
    mem_now = (
        services.allocation_of(pool, "memory")
        if pool is not None
        else admission.NEW_POOL_ALLOCATION
    )
    if spec is None:
        return None, None
    return (
        allocation_from(spec.cpuAllocation, cpu_now, "spec.cpuAllocation"),
        allocation_from(spec.memoryAllocation, mem_now, "spec.memoryAllocation"),
    )


def _pool(mo):
    return inventory.current().get(mo)


# --- resource pools ------------------------------------------------------------------------------


@registry.method("ResourcePool", "CreateResourcePool")
def create_resource_pool(call: registry.Call):
    parent = _pool(call.this)
    require_change(call, "pool", "Resource.CreatePool")
    name = call.args["name"]
    cpu, memory = _spec_allocations(call.args["spec"])
    pool = _run(lambda: services.create_pool(parent, name, cpu=cpu, memory=memory), call.this, name)
    return morefs.moref(pool)


@registry.method("ResourcePool", "UpdateConfig")
def update_config(call: registry.Call):
    pool = _pool(call.this)
    require_change(call, "pool", "Resource.EditPool")
    name = call.args.get("name")
    cpu, memory = _spec_allocations(call.args.get("config"), pool)
    _run(lambda: services.update_pool(pool, name=name, cpu=cpu, memory=memory), call.this, name)


@registry.method("ResourcePool", "MoveIntoResourcePool")
def move_into_resource_pool(call: registry.Call):
    target = _pool(call.this)
    require_change(call, "pool", "Resource.MovePool")
    vms, pools = [], []
    for entity in call.args["list"]:
        kind = morefs.type_name(entity)
        if kind == "VirtualMachine":
            vms.append(inventory.current().get(entity))
        elif kind == "ResourcePool":
            pools.append(inventory.current().get(entity))
        else:
            raise soap.invalid_argument("list", f"A {kind} cannot move into a resource pool.")
    _run(lambda: services.move_into(target, vms=vms, pools=pools), call.this)


@registry.method("ResourcePool", "Destroy_Task")
def destroy_pool(call: registry.Call):
    pool = _pool(call.this)
    require_change(call, "pool", "Resource.DeletePool")
    return run_task(
        call, "Destroy_Task", "ResourcePool.destroy", lambda: services.delete_pool(pool)
    )


# --- virtual machines ----------------------------------------------------------------------------


def _power(call: registry.Call, state: str, method: str, description_id: str):
    vm = inventory.current().get(call.this)
    require_change(
        call,
        "vm",
        "VirtualMachine.Interact.PowerOn"
        if state == PowerState.POWERED_ON
        else "VirtualMachine.Interact.PowerOff",
    )

    def act():
        if vm.power_state == state:  # vSphere refuses what the service would take as a no-op
            raise vim.fault.InvalidPowerState(
                msg=(
                    "The attempted operation cannot be performed in the current state "
                    f"({vm.power_state})."
                ),
                requestedState=state,
                existingState=vm.power_state,
            )
        (services.power_on if state == PowerState.POWERED_ON else services.power_off)(vm)

    return run_task(call, method, description_id, act)


@registry.method("VirtualMachine", "PowerOnVM_Task")
def power_on(call: registry.Call):
    return _power(call, PowerState.POWERED_ON, "PowerOnVM_Task", "VirtualMachine.powerOn")


@registry.method("VirtualMachine", "PowerOffVM_Task")
def power_off(call: registry.Call):
    return _power(call, PowerState.POWERED_OFF, "PowerOffVM_Task", "VirtualMachine.powerOff")


def _boolean(value, prop: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise soap.invalid_argument(prop, f"{prop} must be TRUE or FALSE, not {value!r}.")


def vm_changes(spec) -> dict:
    """VirtualMachineConfigSpec -> the VM settings pools.services.reconfigure_vm takes."""
    changes = {}
    if spec.name is not None:
        changes["name"] = spec.name
    if spec.memoryMB is not None:
        changes["memory_mb"] = spec.memoryMB
    if spec.numCPUs is not None:
        changes["vcpus"] = spec.numCPUs
    for option in spec.extraConfig or []:
        if option.key == PSHARE_ENABLE:
            changes["pshare_enabled"] = _boolean(option.value, f"extraConfig[{PSHARE_ENABLE}]")
        elif option.key == PSHARE_SALT:
            changes["pshare_salt"] = "" if option.value is None else str(option.value)
        else:
            raise soap.invalid_argument(
                "spec.extraConfig",
                f"The lab's VMs take only {PSHARE_ENABLE} and {PSHARE_SALT} in extraConfig, "
                f"not {option.key!r}.",
            )
    return changes


@registry.method("VirtualMachine", "ReconfigVM_Task")
def reconfigure(call: registry.Call):
    vm = inventory.current().get(call.this)
    require_change(call, "vm", "VirtualMachine.Config.Resource")
    spec = call.args["spec"]
    changes = vm_changes(spec)
    cpu = (
        allocation_from(spec.cpuAllocation, services.allocation_of(vm, "cpu"), "spec.cpuAllocation")
        if spec.cpuAllocation
        else None
    )
    memory = (
        allocation_from(
            spec.memoryAllocation, services.allocation_of(vm, "memory"), "spec.memoryAllocation"
        )
        if spec.memoryAllocation
        else None
    )
    return run_task(
        call,
        "ReconfigVM_Task",
        "VirtualMachine.reconfigure",
        lambda: services.reconfigure_vm(vm, cpu=cpu, memory=memory, **changes) and None,
    )


@registry.method("VirtualMachine", "Destroy_Task")
def destroy_vm(call: registry.Call):
    vm = inventory.current().get(call.this)
    require_change(call, "vm", "VirtualMachine.Inventory.Delete")

    return run_task(call, "Destroy_Task", "VirtualMachine.destroy", lambda: services.delete_vm(vm))


# --- host advanced settings (OptionManager) -----------------------------------------------------


def _options_host(mo):
    prefix = "EsxHostAdvSettings-"
    if mo._moId == morefs.VPX_SETTINGS._moId:
        return None
    return inventory.current().get(vim.HostSystem(f"host-{morefs.parse_id(mo, prefix)}"))


@registry.method("OptionManager", "QueryOptions")
def query_options(call: registry.Call):
    host = _options_host(call.this)
    options = list(inventory.host_options(host)) if host is not None else []
    name = call.args.get("name")
    if name:
        options = [
            o for o in options if (o.key.startswith(name) if name.endswith(".") else o.key == name)
        ]
        if not options:
            raise vim.fault.InvalidName(msg=f"No option named {name!r}.", name=name)
    return soap.array_of(vim.option.OptionValue, options)


def _whole_number(option) -> int:
    value = option.value
    if isinstance(value, bool):
        raise soap.invalid_argument(
            option.key, f"{option.key} takes a whole number, not {value!r}."
        )
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    if text.lstrip("-").isdigit() and len(text) <= 18:
        return int(text)
    raise soap.invalid_argument(option.key, f"{option.key} takes a whole number, not {value!r}.")


@registry.method("OptionManager", "UpdateOptions")
def update_options(call: registry.Call):
    host = _options_host(call.this)
    if host is None:
        raise vmodl.fault.NotSupported(msg="The lab's vCenter settings cannot be changed.")
    require_change(call, "host", "Host.Config.AdvancedConfig")
    changes = {}
    for option in call.args["changedValue"]:
        if option.key not in host.settings:
            raise vim.fault.InvalidName(
                msg=f"No option named {option.key!r}.", name=option.key or ""
            )
        changes[option.key] = _whole_number(option)
    _run(
        lambda: services.update_host(host, advanced_settings={**host.advanced_settings, **changes}),
        call.this,
    )


@registry.properties("OptionManager")
def option_manager_property(mo, path: str):
    host = _options_host(mo)
    if path == "setting":
        return (
            inventory.host_options(host)
            if host is not None
            else soap.array_of(vim.option.OptionValue)
        )
    if path == "supportedOption":
        return soap.array_of(vim.option.OptionDef)
    raise registry.InvalidProperty(path)
