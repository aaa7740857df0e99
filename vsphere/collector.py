"""PropertyCollector, PropertyFilter, ViewManager and ContainerView.

Object specs are walked as vSphere documents it (PropertyCollector, "Client Data
Synchronization" in the vSphere Web Services SDK Programming Guide): an ObjectSpec's object
(unless skip), then every TraversalSpec of its selectSet whose type the object has: the objects
its path holds (unless that spec skips them), and from each of those the spec's own selectSet; a
SelectionSpec names a TraversalSpec of the same filter spec. Then every PropertySpec whose type
an object has picks the properties to report.

Session objects (views, collectors, filters) live in the SOAP session (vsphere.sessions). For
WaitForUpdates a filter remembers, per version, a digest of each property it reported; the
next call reports what differs. When nothing differs the call waits for the next tick (the
endpoint does the waiting: WaitForTicks).
"""

import hashlib
from dataclasses import dataclass

from pyVmomi import VmomiSupport, vim, vmodl

from vsphere import inventory, morefs, registry, sessions, soap

PC = vmodl.query.PropertyCollector
MAX_PAGE = 1000  # objects per RetrievePropertiesEx page when the client sets no maxObjects
WAIT_FOREVER = None


@dataclass
class WaitForTicks(Exception):
    """Nothing changed yet: ask again after one of these hosts ticks, for at most `seconds`
    (None: no limit); on timeout the call answers `on_timeout`."""

    host_ids: list[int]
    seconds: float | None
    on_timeout: object = None


def _session() -> sessions.SoapSession:
    session = sessions.current()
    if session is None:  # the endpoint lets only SessionManager reads through without one
        raise vim.fault.NotAuthenticated(msg="The session is not authenticated.")
    return session


def _wsdl_type(name: str):
    try:
        return VmomiSupport.GetWsdlType(soap.VIM_NS, name)
    except KeyError:
        return None


# --- views ---------------------------------------------------------------------------------------


def view_children(mo) -> list:
    """What a view follows from `mo` (CreateContainerView's table): the inventory children, and
    for a HostSystem its virtual machines (HostSystem.vm), which no inventory path walks through."""
    if morefs.type_name(mo) == "HostSystem":
        return [
            morefs.moref(vm) for vm in inventory.current().host_vms(inventory.current().get(mo))
        ]
    return inventory.children_of(mo)


def descendants(container) -> list:
    """Everything below `container` in the view's sense, each once, parents before children."""
    seen: dict[str, object] = {}
    stack = list(reversed(view_children(container)))
    while stack:
        mo = stack.pop()
        key = f"{morefs.type_name(mo)}:{mo._moId}"
        if key in seen:
            continue
        seen[key] = mo
        stack.extend(reversed(view_children(mo)))
    return list(seen.values())


def view_contents(view: dict) -> list:
    container = _wsdl_type(view["container"][0])(view["container"][1])
    candidates = descendants(container) if view["recursive"] else view_children(container)
    types = [t for t in (_wsdl_type(name) for name in view["types"]) if t is not None]
    if types:
        candidates = [mo for mo in candidates if isinstance(mo, tuple(types))]
    return candidates


def _view(mo) -> dict:
    view = _session().objects("views").get(mo._moId)
    if view is None:
        raise morefs.not_found(mo)
    return view


@registry.method("ViewManager", "CreateContainerView")
def create_container_view(call: registry.Call):
    container = call.args["container"]
    if morefs.type_name(container) not in (
        "Folder",
        "Datacenter",
        "ComputeResource",
        "ResourcePool",
        "HostSystem",
    ):
        raise soap.invalid_argument(
            "container", f"A {morefs.type_name(container)} cannot be a view's container."
        )
    inventory.read_property(container, "name")  # ManagedObjectNotFound for an unknown container
    types = []
    for item in call.args.get("type") or []:
        name = (
            item._wsdlName if isinstance(item, type) and hasattr(item, "_wsdlName") else str(item)
        )
        if _wsdl_type(name) is None or not issubclass(_wsdl_type(name), vim.ManagedEntity):
            raise soap.invalid_argument("type", f"{name} is not a managed entity type.")
        types.append(name)
    session = _session()
    view_id = session.new_id("view-")
    session.objects("views")[view_id] = {
        "container": [morefs.type_name(container), container._moId],
        "types": types,
        "recursive": bool(call.args.get("recursive")),
    }
    return vim.view.ContainerView(view_id)


@registry.method("View", "DestroyView")
def destroy_view(call: registry.Call):
    _view(call.this)
    del _session().objects("views")[call.this._moId]


@registry.properties("ContainerView")
def container_view_property(mo, path: str):
    view = _view(mo)
    if path == "view":
        return soap.typed(view_contents(view))
    if path == "container":
        return _wsdl_type(view["container"][0])(view["container"][1])
    if path == "type":
        return soap.array_of(str, view["types"])
    if path == "recursive":
        return view["recursive"]
    raise registry.InvalidProperty(path)


@registry.properties("ViewManager")
def view_manager_property(mo, path: str):
    if path == "viewList":
        return soap.array_of(
            vim.view.View, [vim.view.ContainerView(v) for v in _session().objects("views")]
        )
    raise registry.InvalidProperty(path)


# --- retrieving ----------------------------------------------------------------------------------


def _named_specs(spec: PC.FilterSpec) -> dict:
    named = {}
    stack = [s for obj_spec in spec.objectSet or [] for s in obj_spec.selectSet or []]
    while stack:
        selection = stack.pop()
        if isinstance(selection, PC.TraversalSpec):
            if selection.name and selection.name not in named:
                named[selection.name] = selection
            stack.extend(selection.selectSet or [])
    return named


def _objects(spec: PC.FilterSpec) -> list:
    """The objects an object spec set reaches, each once, in the order reached."""
    named = _named_specs(spec)
    found: dict[str, object] = {}
    visited: set[tuple[str, int]] = set()

    def follow(mo, selections):
        for selection in selections or []:
            traversal = (
                selection if isinstance(selection, PC.TraversalSpec) else named.get(selection.name)
            )
            if traversal is None:
                raise vmodl.fault.InvalidArgument(
                    msg=f"No TraversalSpec is named {selection.name!r}.",
                    invalidProperty="selectSet",
                )
            if traversal.type is None or not isinstance(mo, traversal.type):
                continue
            key = (f"{morefs.type_name(mo)}:{mo._moId}", id(traversal))
            if key in visited:
                continue
            visited.add(key)
            try:
                value = inventory.read_property(mo, traversal.path)
            except vmodl.fault.ManagedObjectNotFound:
                continue
            children = value if isinstance(value, list) else ([value] if value is not None else [])
            for child in children:
                if not isinstance(child, VmomiSupport.ManagedObject):
                    continue
                if not traversal.skip:
                    found.setdefault(f"{morefs.type_name(child)}:{child._moId}", child)
                follow(child, traversal.selectSet)

    for obj_spec in spec.objectSet or []:
        if obj_spec.obj is None:
            raise vmodl.fault.InvalidArgument(
                msg="An ObjectSpec has no obj.", invalidProperty="obj"
            )
        morefs.check_singleton(obj_spec.obj)
        _exists(obj_spec.obj)
        if not obj_spec.skip:
            found.setdefault(f"{morefs.type_name(obj_spec.obj)}:{obj_spec.obj._moId}", obj_spec.obj)
        follow(obj_spec.obj, obj_spec.selectSet)
    return list(found.values())


def _exists(mo) -> None:
    """ManagedObjectNotFound unless `mo` is an object of the service."""
    kind = morefs.type_name(mo)
    if kind in morefs.SINGLETONS or kind in (
        "PropertyCollector",
        "OptionManager",
        "Task",
        "PropertyFilter",
    ):
        return
    inventory.read_property(mo, "name" if kind != "ContainerView" else "recursive")


def _paths(mo, prop_specs) -> list[str] | None:
    """The properties to report of `mo` (None: no spec is about its type)."""
    paths: list[str] = []
    matched = False
    for prop_spec in prop_specs:
        if prop_spec.type is None or not isinstance(mo, prop_spec.type):
            continue
        matched = True
        wanted = (
            inventory.ALL_PATHS.get(morefs.type_name(mo), [])
            if prop_spec.all
            else (prop_spec.pathSet or [])
        )
        paths.extend(p for p in wanted if p not in paths)
    return paths if matched else None


def values_of(mo, paths: list[str]) -> tuple[list, list]:
    """(DynamicProperty list, MissingProperty list) for `paths` of `mo`."""
    props, missing = [], []
    for path in paths:
        try:
            value = inventory.read_property(mo, path)
        except vmodl.fault.ManagedObjectNotFound:
            raise
        except registry.InvalidProperty:
            raise
        except vmodl.MethodFault as fault:
            missing.append(PC.MissingProperty(path=path, fault=fault))
            continue
        if value is not None:
            props.append(vmodl.DynamicProperty(name=path, val=soap.typed(value)))
    return props, missing


def retrieve(spec_set) -> list:
    contents = []
    for spec in spec_set or []:
        if not isinstance(spec, PC.FilterSpec):
            raise soap.invalid_argument("specSet", "specSet holds FilterSpecs.")
        for mo in _objects(spec):
            paths = _paths(mo, spec.propSet or [])
            if paths is None:
                continue
            try:
                props, missing = values_of(mo, paths)
            except vmodl.fault.ManagedObjectNotFound:
                continue  # reached, then gone (deleted meanwhile)
            contents.append(PC.ObjectContent(obj=mo, propSet=props, missingSet=missing))
    return contents


def _collector(mo) -> str:
    if mo._moId == morefs.PROPERTY_COLLECTOR._moId:
        return mo._moId
    if mo._moId not in _session().objects("collectors"):
        raise morefs.not_found(mo)
    return mo._moId


@registry.method("PropertyCollector", "RetrieveProperties")
def retrieve_properties(call: registry.Call):
    _collector(call.this)
    return PC.ObjectContent.Array(retrieve(call.args["specSet"]))


def _page(contents: list, size: int):
    if len(contents) <= size:
        return PC.RetrieveResult(objects=contents) if contents else None
    session = _session()
    token = session.new_id("token-")
    session.objects("pages")[token] = [
        soap.dump(PC.ObjectContent.Array(contents[size:]), PC.ObjectContent.Array)
    ]
    return PC.RetrieveResult(token=token, objects=contents[:size])


def _page_size(options) -> int:
    size = getattr(options, "maxObjects", None) if options is not None else None
    if size is None or size <= 0:
        return MAX_PAGE
    return min(size, MAX_PAGE)


@registry.method("PropertyCollector", "RetrievePropertiesEx")
def retrieve_properties_ex(call: registry.Call):
    _collector(call.this)
    return _page(retrieve(call.args["specSet"]), _page_size(call.args.get("options")))


@registry.method("PropertyCollector", "ContinueRetrievePropertiesEx")
def continue_retrieve(call: registry.Call):
    _collector(call.this)
    kept = _session().objects("pages").pop(call.args["token"], None)
    if kept is None:
        raise soap.invalid_argument("token", "Unknown or finished token.")
    contents = list(soap.load(kept[0], PC.ObjectContent.Array))
    return _page(contents, MAX_PAGE) or PC.RetrieveResult(objects=[])


@registry.method("PropertyCollector", "CancelRetrievePropertiesEx")
def cancel_retrieve(call: registry.Call):
    _collector(call.this)
    if _session().objects("pages").pop(call.args["token"], None) is None:
        raise soap.invalid_argument("token", "Unknown or finished token.")


# --- collectors and filters ----------------------------------------------------------------------


@registry.method("PropertyCollector", "CreatePropertyCollector")
def create_property_collector(call: registry.Call):
    _collector(call.this)
    session = _session()
    collector_id = session.new_id("pc-")
    session.objects("collectors")[collector_id] = {}
    return PC(collector_id)


@registry.method("PropertyCollector", "DestroyPropertyCollector")
def destroy_property_collector(call: registry.Call):
    collector_id = _collector(call.this)
    if collector_id == morefs.PROPERTY_COLLECTOR._moId:
        raise vmodl.fault.NotSupported(
            msg="The service's own PropertyCollector cannot be destroyed."
        )
    session = _session()
    del session.objects("collectors")[collector_id]
    filters = session.objects("filters")
    for filter_id in [f for f, kept in filters.items() if kept["collector"] == collector_id]:
        del filters[filter_id]


@registry.method("PropertyCollector", "CreateFilter")
def create_filter(call: registry.Call):
    collector_id = _collector(call.this)
    spec = call.args["spec"]
    _objects(spec)  # refuse a spec that names unknown objects or traversal names now
    session = _session()
    filter_id = session.new_id("filter-")
    session.objects("filters")[filter_id] = {
        "collector": collector_id,
        "spec": soap.dump(spec, PC.FilterSpec),
        "partial": bool(call.args.get("partialUpdates")),
        "seen": None,  # digests of what the last update reported
    }
    return PC.Filter(filter_id)


def _filter(mo) -> dict:
    kept = _session().objects("filters").get(mo._moId)
    if kept is None:
        raise morefs.not_found(mo)
    return kept


@registry.method("PropertyFilter", "DestroyPropertyFilter")
def destroy_filter(call: registry.Call):
    _filter(call.this)
    del _session().objects("filters")[call.this._moId]


@registry.properties("PropertyFilter")
def filter_property(mo, path: str):
    kept = _filter(mo)
    if path == "spec":
        return soap.load(kept["spec"], PC.FilterSpec)
    if path == "partialUpdates":
        return kept["partial"]
    raise registry.InvalidProperty(path)


@registry.properties("PropertyCollector")
def collector_property(mo, path: str):
    collector_id = _collector(mo)
    if path == "filter":
        return soap.array_of(
            PC.Filter,
            [
                PC.Filter(f)
                for f, kept in _session().objects("filters").items()
                if kept["collector"] == collector_id
            ],
        )
    raise registry.InvalidProperty(path)


# --- updates -------------------------------------------------------------------------------------


def _digest(value) -> str:
    text = soap.dump(value, object) if value is not None else ""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _filter_update(filter_id: str, kept: dict):
    """The PropertyFilterUpdate since what this filter last reported (None: nothing new), and
    the digests to remember."""
    spec = soap.load(kept["spec"], PC.FilterSpec)
    before = kept["seen"] or {}
    now: dict[str, dict[str, str]] = {}
    updates = []
    for content in retrieve([spec]):
        key = f"{morefs.type_name(content.obj)}:{content.obj._moId}"
        digests = {prop.name: _digest(prop.val) for prop in content.propSet}
        now[key] = digests
        if key not in before:
            changes = [PC.Change(name=p.name, op="assign", val=p.val) for p in content.propSet]
            updates.append(
                PC.ObjectUpdate(
                    kind="enter", obj=content.obj, changeSet=changes, missingSet=content.missingSet
                )
            )
            continue
        old = before[key]
        changes = [
            PC.Change(name=p.name, op="assign", val=p.val)
            for p in content.propSet
            if old.get(p.name) != digests[p.name]
        ]
        changes += [PC.Change(name=name, op="remove") for name in old if name not in digests]
        if changes:
            updates.append(PC.ObjectUpdate(kind="modify", obj=content.obj, changeSet=changes))
    for key in before:
        if key not in now:
            kind, _, mo_id = key.partition(":")
            updates.append(PC.ObjectUpdate(kind="leave", obj=_wsdl_type(kind)(mo_id)))
    if not updates:
        return None, now
    return PC.FilterUpdate(filter=PC.Filter(filter_id), objectSet=updates), now


def _wait(call: registry.Call, max_wait: float | None, ex: bool):
    collector_id = _collector(call.this)
    session = _session()
    version = call.args.get("version") or ""
    current_version = session.state.get(f"version:{collector_id}", "")
    if version and version != current_version:
        raise vmodl.query.InvalidCollectorVersion(
            msg=f"Version {version!r} is not the collector's last ({current_version!r})."
        )
    filters = {
        f: kept
        for f, kept in session.objects("filters").items()
        if kept["collector"] == collector_id
    }
    updates = []
    if not version:  # a first call reports everything afresh
        for kept in filters.values():
            kept["seen"] = None
    for filter_id, kept in filters.items():
        update, digests = _filter_update(filter_id, kept)
        kept["seen"] = digests
        if update is not None:
            updates.append(update)
    if updates:
        new_version = str(int(current_version or 0) + 1)
        session.state[f"version:{collector_id}"] = new_version
        return PC.UpdateSet(version=new_version, filterSet=updates, truncated=False)
    if max_wait == 0:
        return None if ex else PC.UpdateSet(version=current_version or "0", filterSet=[])
    raise WaitForTicks(list(inventory.current().hosts), max_wait, None)


MAX_WAIT_SECONDS = 2**31 - 1  # WaitOptions.maxWaitSeconds is an xsd:int


@registry.method("PropertyCollector", "WaitForUpdatesEx")
def wait_for_updates_ex(call: registry.Call):
    options = call.args.get("options")
    max_wait = getattr(options, "maxWaitSeconds", None) if options is not None else None
    if max_wait is not None and not 0 <= max_wait <= MAX_WAIT_SECONDS:
        raise soap.invalid_argument(
            "options.maxWaitSeconds",
            f"maxWaitSeconds is from 0 to {MAX_WAIT_SECONDS} (an xsd:int).",
        )
    return _wait(call, max_wait, ex=True)


@registry.method("PropertyCollector", "WaitForUpdates")
def wait_for_updates(call: registry.Call):
    return _wait(call, WAIT_FOREVER, ex=False)


@registry.method("PropertyCollector", "CheckForUpdates")
def check_for_updates(call: registry.Call):
    return _wait(call, 0, ex=True)
