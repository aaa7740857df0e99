"""The /sdk endpoint through Django's test client: sessions, permissions and faults for every
kind of bad request, each written by pyVmomi's client serializer and read back by its
deserializer. Needs the database and Redis (sessions and the login throttle live in the cache);
no server processes."""

import pytest
from django.contrib.auth.models import Permission, User
from pyVmomi import SoapAdapter, vim, vmodl

from pools import services
from vsphere import soap

pytestmark = pytest.mark.redis

PC = vmodl.query.PropertyCollector
STUB = SoapAdapter.SoapStubAdapter(host="lab.invalid", version=soap.VERSION)
PASSWORD = "lab-password-1"


class Client:
    """pyVmomi's wire format over Django's test client, keeping the session cookie."""

    def __init__(self, django_client):
        self.http = django_client

    def post(self, body: bytes):
        return self.http.post(
            "/sdk",
            data=body,
            content_type="text/xml; charset=utf-8",
            HTTP_SOAPACTION="urn:vim25/8.0.3.0",
        )

    def call(self, mo, method: str, *args):
        """The result, or the fault pyVmomi's client would raise (returned, not raised)."""
        info = type(mo)._GetMethodInfo(method)
        response = self.post(STUB.SerializeRequest(mo, info, list(args)))
        assert response.status_code in (200, 500), response.status_code
        assert response["Content-Type"].startswith("text/xml")
        return SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(response.content, info.result)

    def read(self, obj, path: str):
        """One property of one object through the PropertyCollector (or the fault)."""
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj)],
            propSet=[PC.PropertySpec(type=type(obj), pathSet=[path])],
        )
        result = self.call(
            PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions()
        )
        return result if isinstance(result, vmodl.MethodFault) else result.objects[0].propSet[0].val

    def login(self, user: str, password: str = PASSWORD):
        return self.call(vim.SessionManager("SessionManager"), "Login", user, password, None)


@pytest.fixture
def inventory(transactional_db, clean_redis):
    User.objects.create_superuser("admin", password=PASSWORD)
    viewer = User.objects.create_user("viewer", password=PASSWORD)
    for codename, app in (
        ("view_host", "hostsim"),
        ("view_resourcepool", "pools"),
        ("view_virtualmachine", "hostsim"),
    ):
        viewer.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    host = services.create_host(name="esx-endpoint", memory_mb=16384, cpu_mhz=20000)
    vm = services.create_vm(host, name="vm-a", memory_mb=1024)
    return host, services.ensure_root_pool(host), vm


@pytest.fixture
def sdk(client):
    return Client(client)


def name_spec(mo_type, obj) -> PC.FilterSpec:
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj)],
        propSet=[PC.PropertySpec(type=mo_type, pathSet=["name"])],
    )


def test_get_is_not_a_soap_call(sdk, inventory):
    assert sdk.http.get("/sdk").status_code == 405


def test_the_service_content_and_clock_need_no_login(sdk, inventory):
    content = sdk.call(vim.ServiceInstance("ServiceInstance"), "RetrieveContent")
    assert content.rootFolder == vim.Folder("group-d1") and content.about.apiType == "VirtualCenter"
    assert content.perfManager == vim.PerformanceManager("PerfMgr")
    assert sdk.call(vim.ServiceInstance("ServiceInstance"), "CurrentTime").year >= 2024


def test_current_session_reads_as_unset_before_login(sdk, inventory):
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=vim.SessionManager("SessionManager"))],
        propSet=[PC.PropertySpec(type=vim.SessionManager, pathSet=["currentSession"])],
    )
    result = sdk.call(PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions())
    assert result.objects[0].propSet == []
    sdk.login("admin")
    result = sdk.call(PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions())
    assert result.objects[0].propSet[0].val.userName == "admin"


def test_everything_else_needs_a_login(sdk, inventory):
    host, root, vm = inventory
    fault = sdk.call(
        PC("propertyCollector"),
        "RetrievePropertiesEx",
        [name_spec(vim.VirtualMachine, vim.VirtualMachine(f"vm-{vm.pk}"))],
        PC.RetrieveOptions(),
    )
    assert isinstance(fault, vim.fault.NotAuthenticated)
    sdk.login("admin")
    result = sdk.call(
        PC("propertyCollector"),
        "RetrievePropertiesEx",
        [name_spec(vim.VirtualMachine, vim.VirtualMachine(f"vm-{vm.pk}"))],
        PC.RetrieveOptions(),
    )
    assert result.objects[0].propSet[0].val == "vm-a"


def test_a_wrong_password_is_an_invalid_login_and_sets_no_session(sdk, inventory):
    fault = sdk.login("admin", "not-the-password")
    assert isinstance(fault, vim.fault.InvalidLogin)
    assert "vmware_soap_session" not in sdk.http.cookies
    assert isinstance(
        sdk.call(
            vim.view.ViewManager("ViewManager"),
            "CreateContainerView",
            vim.Folder("group-d1"),
            [vim.VirtualMachine],
            True,
        ),
        vim.fault.NotAuthenticated,
    )


def test_login_sets_the_vmware_soap_session_cookie_and_logout_ends_it(sdk, inventory):
    session = sdk.login("admin")
    assert session.userName == "admin"
    assert sdk.http.cookies["vmware_soap_session"].value == session.key
    assert (
        sdk.call(vim.SessionManager("SessionManager"), "SessionIsActive", session.key, "admin")
        is True
    )
    assert sdk.call(vim.SessionManager("SessionManager"), "Logout") is None
    fault = sdk.call(vim.SessionManager("SessionManager"), "SessionIsActive", session.key, "admin")
    assert isinstance(fault, vim.fault.NotAuthenticated)


def test_a_forged_cookie_is_no_session(sdk, inventory):
    sdk.http.cookies["vmware_soap_session"] = "0123456789abcdef0123456789abcdef"
    fault = sdk.call(
        vim.view.ViewManager("ViewManager"), "CreateContainerView", vim.Folder("group-d1"), [], True
    )
    assert isinstance(fault, vim.fault.NotAuthenticated)


def test_a_user_without_change_permission_gets_no_permission(sdk, inventory):
    host, root, vm = inventory
    spec = vim.ResourceConfigSpec(
        cpuAllocation=vim.ResourceAllocationInfo(), memoryAllocation=vim.ResourceAllocationInfo()
    )
    sdk.login("viewer")
    fault = sdk.call(vim.ResourcePool(f"resgroup-{root.pk}"), "CreateResourcePool", "mine", spec)
    assert isinstance(fault, vim.fault.NoPermission) and fault.privilegeId == "Resource.CreatePool"
    assert isinstance(
        sdk.call(vim.VirtualMachine(f"vm-{vm.pk}"), "PowerOn", None), vim.fault.NoPermission
    )
    assert not root.children.exists()
    sdk.login("admin")
    pool = sdk.call(vim.ResourcePool(f"resgroup-{root.pk}"), "CreateResourcePool", "mine", spec)
    assert pool == vim.ResourcePool(f"resgroup-{root.children.get().pk}")


@pytest.mark.parametrize(
    "moref",
    [
        vim.VirtualMachine("vm-999999"),
        vim.VirtualMachine("vm-"),
        vim.VirtualMachine("vm-1x"),
        vim.VirtualMachine("host-1"),
        vim.HostSystem("vm-1"),
        vim.Folder("group-x9"),
        vim.Datacenter("datacenter-2"),
    ],
)
def test_an_unknown_or_mistyped_id_is_managed_object_not_found(sdk, inventory, moref):
    sdk.login("admin")
    fault = sdk.call(
        PC("propertyCollector"),
        "RetrievePropertiesEx",
        [name_spec(type(moref), moref)],
        PC.RetrieveOptions(),
    )
    assert isinstance(fault, vmodl.fault.ManagedObjectNotFound) and fault.obj == moref


def test_an_unknown_property_is_invalid_property(sdk, inventory):
    host, root, vm = inventory
    sdk.login("admin")
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=vim.VirtualMachine(f"vm-{vm.pk}"))],
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["summary.noSuchThing"])],
    )
    fault = sdk.call(PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions())
    assert isinstance(fault, vmodl.query.InvalidProperty) and fault.name == "summary.noSuchThing"


def test_a_method_the_lab_does_not_implement_is_method_not_found(sdk, inventory):
    host, root, vm = inventory
    sdk.login("admin")
    fault = sdk.call(vim.VirtualMachine(f"vm-{vm.pk}"), "MarkAsTemplate")
    assert isinstance(fault, vmodl.fault.MethodNotFound) and fault.method == "MarkAsTemplate"


@pytest.mark.parametrize("body", [b"<x", b"\xff\xfe garbage", b"<a>" * 50 + b"</a>" * 50])
def test_malformed_bodies_get_soap_faults_not_error_pages(sdk, inventory, body):
    response = sdk.post(body)
    assert response.status_code == 500 and response["Content-Type"].startswith("text/xml")
    fault = SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(response.content, object)
    assert isinstance(fault, vmodl.fault.InvalidRequest)


def test_a_wrongly_typed_argument_is_a_fault(sdk, inventory):
    host, root, vm = inventory
    sdk.login("admin")
    body = STUB.SerializeRequest(
        vim.ResourcePool(f"resgroup-{root.pk}"),
        vim.ResourcePool._GetMethodInfo("CreateResourcePool"),
        [
            "p",
            vim.ResourceConfigSpec(
                cpuAllocation=vim.ResourceAllocationInfo(),
                memoryAllocation=vim.ResourceAllocationInfo(reservation=5),
            ),
        ],
    )
    body = body.replace(b"<reservation>5</reservation>", b"<reservation>five</reservation>")
    fault = SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(sdk.post(body).content, object)
    assert isinstance(fault, vmodl.fault.InvalidRequest)
    assert not root.children.exists()


def test_a_body_over_the_upload_limit_is_refused_unread(sdk, inventory, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = STUB.SerializeRequest(
        vim.ServiceInstance("ServiceInstance"),
        vim.ServiceInstance._GetMethodInfo("CurrentTime"),
        [],
    )
    padded = body.replace(b"<soapenv:Body>", b"<soapenv:Body>" + b" " * 10_000)
    fault = SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(sdk.post(padded).content, object)
    assert isinstance(fault, vmodl.fault.InvalidRequest) and "10000 bytes" in fault.msg
    assert sdk.post(body).status_code == 200


def test_repeated_wrong_passwords_lock_the_user_name_out(sdk, inventory, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert isinstance(sdk.login("admin", "wrong"), vim.fault.InvalidLogin)
    locked = sdk.login("admin")  # the right password, refused while locked
    assert isinstance(locked, vim.fault.InvalidLogin) and "Too many failed logins" in locked.msg
    assert isinstance(sdk.login("viewer").key, str)  # another user name is not locked


def test_a_big_retrieval_comes_in_pages(sdk, inventory):
    host, root, vm = inventory
    for number in range(4):
        services.create_vm(host, name=f"vm-page-{number}", memory_mb=256)
    sdk.login("admin")
    view = sdk.call(
        vim.view.ViewManager("ViewManager"),
        "CreateContainerView",
        vim.Folder("group-d1"),
        [vim.VirtualMachine],
        True,
    )
    spec = PC.FilterSpec(
        objectSet=[
            PC.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[PC.TraversalSpec(name="v", type=vim.view.ContainerView, path="view")],
            )
        ],
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])],
    )
    first = sdk.call(
        PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions(maxObjects=2)
    )
    assert len(first.objects) == 2 and first.token
    rest = sdk.call(PC("propertyCollector"), "ContinueRetrievePropertiesEx", first.token)
    names = [o.propSet[0].val for o in [*first.objects, *rest.objects]]
    assert (
        sorted(names) == sorted(["vm-a", *(f"vm-page-{n}" for n in range(4))])
        and rest.token is None
    )
    again = sdk.call(PC("propertyCollector"), "ContinueRetrievePropertiesEx", first.token)
    assert isinstance(again, vmodl.fault.InvalidArgument)  # a token is good for one page


def test_a_user_without_view_permission_sees_an_empty_inventory(sdk, inventory):
    User.objects.create_user("stranger", password=PASSWORD)
    sdk.login("stranger")
    view = sdk.call(
        vim.view.ViewManager("ViewManager"),
        "CreateContainerView",
        vim.Folder("group-d1"),
        [vim.VirtualMachine],
        True,
    )
    assert list(sdk.read(view, "view")) == []
    host, root, vm = inventory
    fault = sdk.call(
        PC("propertyCollector"),
        "RetrievePropertiesEx",
        [name_spec(vim.VirtualMachine, vim.VirtualMachine(f"vm-{vm.pk}"))],
        PC.RetrieveOptions(),
    )
    assert isinstance(fault, vmodl.fault.ManagedObjectNotFound)


def _targets(root, vm, host):
    return {
        "ServiceInstance": vim.ServiceInstance("ServiceInstance"),
        "SessionManager": vim.SessionManager("SessionManager"),
        "PropertyCollector": PC("propertyCollector"),
        "PropertyFilter": PC.Filter("session[x]filter-1"),
        "ViewManager": vim.view.ViewManager("ViewManager"),
        "View": vim.view.ContainerView("session[x]view-1"),
        "SearchIndex": vim.SearchIndex("SearchIndex"),
        "ResourcePool": vim.ResourcePool(f"resgroup-{root.pk}"),
        "VirtualMachine": vim.VirtualMachine(f"vm-{vm.pk}"),
        "OptionManager": vim.option.OptionManager(f"EsxHostAdvSettings-{host.pk}"),
        "PerformanceManager": vim.PerformanceManager("PerfMgr"),
    }


@pytest.mark.parametrize("garbage", [b"garbage", b"", b"-1", b"<a>1</a>"])
def test_every_method_answers_garbage_arguments_with_a_fault(sdk, inventory, garbage):
    """Each handler the registry holds gets every parameter as the same nonsense: a vSphere fault
    each time (or an answer, where the nonsense happens to be valid), never an internal error.
    (Not the waits: with no filter and no limit a WaitForUpdates waits, as on a vCenter.)"""
    from vsphere import registry

    host, root, vm = inventory
    targets = _targets(root, vm, host)
    sdk.login("admin")
    for (mo_type, method), _ in sorted(registry.METHODS.items()):
        if (
            method in ("Login", "Logout", "WaitForUpdates", "WaitForUpdatesEx")
            or mo_type not in targets
        ):
            continue
        this = targets[mo_type]
        info = soap.method_info(type(this), method)
        params = b"".join(
            b"<%s>%s</%s>" % (p.name.encode(), garbage, p.name.encode()) for p in info.params
        )
        body = (
            b'<?xml version="1.0"?>'
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            b'<soapenv:Body><%s xmlns="urn:vim25">'
            b'<_this type="%s">%s</_this>%s</%s></soapenv:Body></soapenv:Envelope>'
        ) % (
            method.encode(),
            type(this)._wsdlName.encode(),
            this._moId.encode(),
            params,
            method.encode(),
        )
        response = sdk.post(body)
        assert response["Content-Type"].startswith("text/xml"), method
        if response.status_code == 500:
            answer = SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(
                response.content, object
            )
            assert isinstance(answer, vmodl.MethodFault), method
            assert not isinstance(answer, vmodl.fault.SystemError), (
                f"{mo_type}.{method}: {answer.msg}"
            )
        else:
            assert response.status_code == 200, method


def test_a_power_on_refused_for_cpu_ends_in_insufficient_cpu_resources(sdk, inventory):
    from pools.admission import Allocation

    host, root, vm = inventory
    hungry = services.create_vm(
        host, name="cpu-hungry", memory_mb=256, cpu=Allocation(reservation=25_000)
    )
    sdk.login("admin")
    task = sdk.call(vim.VirtualMachine(f"vm-{hungry.pk}"), "PowerOn", None)
    info = sdk.read(task, "info")
    assert info.state == "error" and isinstance(info.error, vim.fault.InsufficientCpuResourcesFault)
    assert (info.error.requested, info.error.unreserved) == (25_000, 20_000)
    hungry.refresh_from_db()
    assert hungry.power_state == "poweredOff"


def test_every_property_of_every_inventory_object_can_be_read(sdk, inventory):
    """all=True on everything below the root folder: each property the lab lists serializes
    (pyVmomi refuses an unset required field, so a schema mistake shows up here)."""
    host, root, vm = inventory
    services.power_on(vm)
    sdk.login("admin")
    view = sdk.call(
        vim.view.ViewManager("ViewManager"), "CreateContainerView", vim.Folder("group-d1"), [], True
    )
    types = [
        vim.Folder,
        vim.Datacenter,
        vim.ComputeResource,
        vim.HostSystem,
        vim.ResourcePool,
        vim.VirtualMachine,
        vim.Datastore,
        vim.Network,
    ]
    spec = PC.FilterSpec(
        objectSet=[
            PC.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[PC.TraversalSpec(name="v", type=vim.view.ContainerView, path="view")],
            )
        ],
        propSet=[PC.PropertySpec(type=t, all=True) for t in types],
    )
    result = sdk.call(PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions())
    assert not isinstance(result, vmodl.MethodFault), result
    kinds = {type(o.obj).__name__.rsplit(".", 1)[-1] for o in result.objects}
    assert kinds == {
        "Folder",
        "Datacenter",
        "ComputeResource",
        "HostSystem",
        "ResourcePool",
        "VirtualMachine",
        "Datastore",
        "Network",
    }
    by_obj = {o.obj: {p.name: p.val for p in o.propSet} for o in result.objects}
    assert by_obj[vim.VirtualMachine(f"vm-{vm.pk}")]["config"].hardware.memoryMB == 1024
    assert by_obj[vim.HostSystem(f"host-{host.pk}")]["hardware"].memorySize == 16384 * 1024 * 1024


def test_a_user_without_view_permission_cannot_read_performance_data(sdk, inventory):
    User.objects.create_user("stranger", password=PASSWORD)
    sdk.login("stranger")
    host, root, vm = inventory
    perf = vim.PerformanceManager("PerfMgr")
    for entity in (vim.VirtualMachine(f"vm-{vm.pk}"), vim.HostSystem(f"host-{host.pk}")):
        spec = vim.PerformanceManager.QuerySpec(entity=entity, intervalId=20)
        assert isinstance(sdk.call(perf, "QueryStats", [spec]), vmodl.fault.ManagedObjectNotFound)
        assert isinstance(
            sdk.call(perf, "QueryAvailableMetric", entity, None, None, 20),
            vmodl.fault.ManagedObjectNotFound,
        )
        assert isinstance(
            sdk.call(perf, "QueryProviderSummary", entity), vmodl.fault.ManagedObjectNotFound
        )


def test_a_wait_longer_than_an_xsd_int_is_an_invalid_argument(sdk, inventory):
    sdk.login("admin")
    collector = sdk.call(PC("propertyCollector"), "CreatePropertyCollector")
    for seconds in (2**31, 10**400, -1):
        fault = sdk.call(collector, "WaitForUpdatesEx", "", PC.WaitOptions(maxWaitSeconds=seconds))
        assert isinstance(fault, vmodl.fault.InvalidArgument), seconds


def test_text_in_a_soap_header_is_allowed(sdk, inventory):
    """PowerCLI and other SDKs send <operationID> in the header; the body is what counts."""
    info = vim.ServiceInstance._GetMethodInfo("CurrentTime")
    body = STUB.SerializeRequest(vim.ServiceInstance("ServiceInstance"), info, [])
    body = body.replace(
        b"<soapenv:Body>",
        b"<soapenv:Header><operationID>op-1</operationID></soapenv:Header><soapenv:Body>",
        1,
    )
    response = sdk.post(body)
    assert response.status_code == 200, response.content
    assert b"CurrentTimeResponse" in response.content


def test_a_task_is_read_only_by_whoever_started_it_and_administrators(sdk, inventory, client):
    host, root, vm = inventory
    operator = User.objects.create_user("operator", password=PASSWORD)
    operator.user_permissions.add(
        Permission.objects.get(content_type__app_label="hostsim", codename="change_virtualmachine"),
        Permission.objects.get(content_type__app_label="hostsim", codename="view_virtualmachine"),
        Permission.objects.get(content_type__app_label="hostsim", codename="view_host"),
    )
    sdk.login("operator")
    task = sdk.call(vim.VirtualMachine(f"vm-{vm.pk}"), "PowerOn", None)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=task)],
        propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info.state"])],
    )

    def state_as(user):
        sdk.login(user)
        answer = sdk.call(
            PC("propertyCollector"), "RetrievePropertiesEx", [spec], PC.RetrieveOptions()
        )
        if answer is None or isinstance(answer, vmodl.MethodFault):
            return answer  # nothing readable, or the fault saying so
        return answer.objects[0].propSet[0].val

    assert state_as("operator") == "success"
    assert state_as("admin") == "success"
    hidden = state_as("viewer")
    assert hidden is None or isinstance(hidden, vmodl.fault.ManagedObjectNotFound)


def test_a_move_that_would_give_a_pool_two_children_of_one_name_is_duplicate_name(sdk, inventory):
    host, root, vm = inventory
    target = services.create_pool(root, "target")
    services.create_pool(target, "twin")
    outside = services.create_pool(services.create_pool(root, "holder"), "twin")
    sdk.login("admin")
    fault = sdk.call(
        vim.ResourcePool(f"resgroup-{target.pk}"),
        "MoveInto",
        [vim.ResourcePool(f"resgroup-{outside.pk}")],
    )
    assert isinstance(fault, vim.fault.DuplicateName), fault
    assert fault.name == "twin"
    outside.refresh_from_db()
    assert outside.parent.name == "holder"  # nothing moved


def test_destroying_a_running_vm_ends_its_task_in_invalid_power_state(sdk, inventory):
    host, root, vm = inventory
    services.power_on(vm)
    sdk.login("admin")
    task = sdk.call(vim.VirtualMachine(f"vm-{vm.pk}"), "Destroy")
    info = sdk.read(task, "info")
    assert info.state == "error" and isinstance(info.error, vim.fault.InvalidPowerState)
    assert (info.error.existingState, info.error.requestedState) == ("poweredOn", "poweredOff")
    vm.refresh_from_db()  # still there


def test_an_invalid_allocation_names_the_specs_property(sdk, inventory):
    """InvalidArgument.invalidProperty names what the client sent (ResourceConfigSpec's
    memoryAllocation.limit), not the lab's model field."""
    host, root, vm = inventory
    sdk.login("admin")
    spec = vim.ResourceConfigSpec(
        cpuAllocation=vim.ResourceAllocationInfo(),
        memoryAllocation=vim.ResourceAllocationInfo(reservation=512, limit=256),
    )
    fault = sdk.call(vim.ResourcePool(f"resgroup-{root.pk}"), "CreateResourcePool", "mine", spec)
    assert isinstance(fault, vmodl.fault.InvalidArgument), fault
    assert fault.invalidProperty.startswith("memoryAllocation."), fault.invalidProperty
    assert not root.children.exists()


def test_a_view_of_a_host_holds_its_virtual_machines(sdk, inventory):
    """CreateContainerView's table: a HostSystem container provides HostSystem.vm, so
    "the VMs on this host" (what vmware_exporter and govc ls -t ask) is one view."""
    host, root, vm = inventory
    other = services.create_host(name="esx-other", memory_mb=8192, cpu_mhz=20000)
    services.create_vm(other, name="vm-elsewhere", memory_mb=256)
    sdk.login("admin")
    names = {}
    for recursive in (False, True):
        view = sdk.call(
            vim.view.ViewManager("ViewManager"),
            "CreateContainerView",
            vim.HostSystem(f"host-{host.pk}"),
            [vim.VirtualMachine],
            recursive,
        )
        names[recursive] = [mo._moId for mo in sdk.read(view, "view")]
    assert names[False] == names[True] == [f"vm-{vm.pk}"]
