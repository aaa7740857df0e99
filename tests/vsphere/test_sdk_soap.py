"""vsphere.soap, the one module over pyVmomi's internals: requests as pyVmomi's client writes
them come back as typed calls, and what the server writes pyVmomi's client reads back.
No database, no server."""

import re

import pytest
from pyVmomi import SoapAdapter, vim, vmodl

from vsphere import soap

PC = vmodl.query.PropertyCollector
STUB = SoapAdapter.SoapStubAdapter(host="lab.invalid", version=soap.VERSION)  # never connects


def client_request(mo, method: str, *args) -> bytes:
    """The body pyVmomi's client sends for mo.method(*args)."""
    info = type(mo)._GetMethodInfo(method)
    return STUB.SerializeRequest(mo, info, list(args))


def client_reads(body: bytes, result_type):
    """What pyVmomi's client makes of a response body (a fault comes back as the fault)."""
    return SoapAdapter.SoapResponseDeserializer(STUB).Deserialize(body, result_type)


def vm_spec() -> PC.FilterSpec:
    return PC.FilterSpec(
        objectSet=[
            PC.ObjectSpec(
                obj=vim.view.ContainerView("session[x]view-1"),
                skip=True,
                selectSet=[
                    PC.TraversalSpec(
                        name="toView",
                        type=vim.view.ContainerView,
                        path="view",
                        skip=False,
                        selectSet=[PC.SelectionSpec(name="toView")],
                    ),
                ],
            )
        ],
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name", "summary.quickStats"])],
    )


def test_a_client_request_becomes_a_typed_call():
    body = client_request(
        PC("propertyCollector"),
        "RetrievePropertiesEx",
        [vm_spec()],
        PC.RetrieveOptions(maxObjects=7),
    )
    call = soap.parse_request(body, "urn:vim25/8.0.3.0")
    assert call.method == "RetrievePropertiesEx"
    assert call.this == PC("propertyCollector")
    (spec,) = call.args["specSet"]
    traversal = spec.objectSet[0].selectSet[0]
    assert isinstance(traversal, PC.TraversalSpec) and traversal.type is vim.view.ContainerView
    assert traversal.selectSet[0].name == "toView"
    assert spec.propSet[0].type is vim.VirtualMachine
    assert list(spec.propSet[0].pathSet) == ["name", "summary.quickStats"]
    assert call.args["options"].maxObjects == 7


def test_login_parameters_arrive_as_strings():
    body = client_request(vim.SessionManager("SessionManager"), "Login", "admin", "p<a&s>s", None)
    call = soap.parse_request(body)
    assert call.args == {"userName": "admin", "password": "p<a&s>s"}


def test_fetch_has_no_method_table_entry_but_is_understood():
    body = client_request(vim.VirtualMachine("vm-4"), "PowerOn", None).replace(
        b"PowerOnVM_Task", b"Fetch"
    )
    body = body.replace(b"</_this>", b"</_this><prop>summary.quickStats</prop>")
    call = soap.parse_request(body)
    assert call.method == "Fetch" and call.info is soap.FETCH
    assert call.this == vim.VirtualMachine("vm-4") and call.args == {"prop": "summary.quickStats"}


def test_a_managed_object_in_an_any_value_is_typed_managed_object_reference():
    request = soap.Request(
        "RetrievePropertiesEx",
        PC("propertyCollector"),
        {},
        PC._GetMethodInfo("RetrievePropertiesEx"),
        soap.VERSION,
    )
    content = PC.ObjectContent(
        obj=vim.VirtualMachine("vm-1"),
        propSet=[
            vmodl.DynamicProperty(name="runtime.host", val=vim.HostSystem("host-1")),
            vmodl.DynamicProperty(name="datastore", val=soap.typed([vim.Datastore("datastore-1")])),
            vmodl.DynamicProperty(name="names", val=soap.typed(["a", "b"])),
        ],
    )
    body = soap.serialize_response(request, PC.RetrieveResult(objects=[content]))
    assert b'<val xsi:type="ManagedObjectReference" type="HostSystem">host-1</val>' in body
    assert b'xsi:type="ArrayOfManagedObjectReference"' in body
    result = client_reads(body, request.info.result)
    host, datastores, names = (prop.val for prop in result.objects[0].propSet)
    assert host == vim.HostSystem("host-1")
    assert list(datastores) == [vim.Datastore("datastore-1")] and list(names) == ["a", "b"]


def test_a_plain_list_cannot_go_into_an_any_value_untyped():
    request = soap.Request(
        "RetrievePropertiesEx",
        PC("propertyCollector"),
        {},
        PC._GetMethodInfo("RetrievePropertiesEx"),
        soap.VERSION,
    )
    content = PC.ObjectContent(
        obj=vim.VirtualMachine("vm-1"), propSet=[vmodl.DynamicProperty(name="x", val=[])]
    )
    with pytest.raises(TypeError):
        soap.serialize_response(request, PC.RetrieveResult(objects=[content]))


def test_unset_required_fields_are_caught_when_writing():
    request = soap.Request(
        "RetrievePropertiesEx",
        PC("propertyCollector"),
        {},
        PC._GetMethodInfo("RetrievePropertiesEx"),
        soap.VERSION,
    )
    stats = vim.vm.Summary.QuickStats(guestMemoryUsage=5)  # guestHeartbeatStatus is required
    content = PC.ObjectContent(
        obj=vim.VirtualMachine("vm-1"), propSet=[vmodl.DynamicProperty(name="q", val=stats)]
    )
    with pytest.raises(TypeError, match="guestHeartbeatStatus"):
        soap.serialize_response(request, PC.RetrieveResult(objects=[content]))


def test_a_fault_reaches_the_client_with_its_numbers():
    body = soap.serialize_fault(
        vim.fault.InsufficientMemoryResourcesFault(msg="no room", unreserved=512, requested=1024)
    )
    assert (
        b'<InsufficientMemoryResourcesFaultFault xmlns="urn:vim25" '
        b'xsi:type="InsufficientMemoryResourcesFault">' in body
    )
    fault = client_reads(body, object)
    assert isinstance(fault, vim.fault.InsufficientMemoryResourcesFault)
    assert (fault.unreserved, fault.requested, fault.msg) == (512, 1024, "no room")


def test_a_fault_message_is_escaped():
    fault = client_reads(soap.serialize_fault(vim.fault.InvalidLogin(msg="<b>&</b>")), object)
    assert isinstance(fault, vim.fault.InvalidLogin) and fault.msg == "<b>&</b>"


ENVELOPE = (
    b'<?xml version="1.0"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b"<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "fault", "words"),
    [
        (b"<not xml", vmodl.fault.InvalidRequest, "Malformed XML"),
        (b"", vmodl.fault.InvalidRequest, "Malformed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
            vmodl.fault.InvalidRequest,
            "Document type",
        ),
        (b"<Envelope/>", vmodl.fault.InvalidRequest, "not a SOAP envelope"),
        (ENVELOPE % b"", vmodl.fault.InvalidRequest, "no method call"),
        (
            ENVELOPE
            % (
                b'<Nope xmlns="urn:vim25">'
                b'<_this type="ServiceInstance">ServiceInstance</_this></Nope>'
            ),
            vmodl.fault.MethodNotFound,
            "no method Nope",
        ),
        (
            ENVELOPE
            % (
                b'<CurrentTime xmlns="urn:other">'
                b'<_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>'
            ),
            vmodl.fault.InvalidRequest,
            "unknown namespace",
        ),
        (
            ENVELOPE
            % b'<CurrentTime xmlns="urn:vim25"><_this type="NoSuchType">x</_this></CurrentTime>',
            vmodl.fault.InvalidRequest,
            "NoSuchType",
        ),
        (
            ENVELOPE % b'<CurrentTime xmlns="urn:vim25"></CurrentTime>',
            vmodl.fault.InvalidRequest,
            "_this",
        ),
        (
            ENVELOPE
            % (
                b'<Login xmlns="urn:vim25">'
                b'<_this type="SessionManager">SessionManager</_this></Login>'
            ),
            vmodl.fault.InvalidArgument,
            "userName",
        ),
        (
            ENVELOPE
            % (
                b'<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>'
                b"<userName>a</userName><password>b</password><shoeSize>9</shoeSize></Login>"
            ),
            vmodl.fault.InvalidArgument,
            "shoeSize",
        ),
        (
            ENVELOPE
            % (
                b'<RetrievePropertiesEx xmlns="urn:vim25">'
                b'<_this type="PropertyCollector">propertyCollector</_this>'
                b"<specSet></specSet><options><maxObjects>many</maxObjects></options></RetrievePropertiesEx>"
            ),
            vmodl.fault.InvalidRequest,
            "many",
        ),
        (
            ENVELOPE
            % (
                b'<WaitForUpdatesEx xmlns="urn:vim25">'
                b'<_this type="PropertyCollector">propertyCollector</_this>'
                b"<options><maxWaitSeconds>yes</maxWaitSeconds></options></WaitForUpdatesEx>"
            ),
            vmodl.fault.InvalidRequest,
            "yes",
        ),
    ],
)
def test_hostile_requests_get_faults(body, fault, words):
    with pytest.raises(soap.RequestError) as raised:
        soap.parse_request(body)
    assert isinstance(raised.value.fault, fault)
    assert words in raised.value.fault.msg
    written = client_reads(soap.serialize_fault(raised.value.fault), object)
    assert isinstance(written, fault)


def test_the_version_a_client_asks_for_is_the_version_answered():
    assert soap.version_of("urn:vim25/7.0.3.0") == "vim.version.v7_0_3_0"
    assert soap.version_of('"urn:vim25/8.0.3.0"') == soap.VERSION
    assert soap.version_of("urn:vim25/99.0") == soap.VERSION
    assert soap.version_of("") == soap.VERSION


def test_a_kept_filter_spec_comes_back_the_same():
    spec = vm_spec()
    kept = soap.load(soap.dump(spec, PC.FilterSpec), PC.FilterSpec)
    assert soap.dump(kept, PC.FilterSpec) == soap.dump(spec, PC.FilterSpec)
    assert kept.objectSet[0].selectSet[0].selectSet[0].name == "toView"


def test_service_versions_name_the_version_pyvmomi_asks_for():
    body = soap.service_versions_xml()
    assert (
        b"<name>urn:vim25</name>" in body
        and f"<version>{soap.VERSION_ID}</version>".encode() in body
    )


@pytest.mark.parametrize(
    ("mo_type", "path", "value", "wire_type"),
    [
        (
            vim.ComputeResource,
            "effectiveRole",
            [-1],
            b'xsi:type="ArrayOfInt"',
        ),  # govmomi refuses ArrayOfLong here
        (
            vim.HostSystem,
            "hardware.memorySize",
            16 * 1024**3,
            b'xsi:type="xsd:long"',
        ),  # too big for an xsd:int
        (
            vim.VirtualMachine,
            "runtime.powerState",
            "poweredOn",
            b'xsi:type="VirtualMachinePowerState"',
        ),
        (
            vim.VirtualMachine,
            "datastore",
            [vim.Datastore("datastore-1")],
            b'xsi:type="ArrayOfManagedObjectReference"',
        ),
    ],
)
def test_a_property_value_goes_out_as_the_type_the_wsdl_declares(mo_type, path, value, wire_type):
    request = soap.Request(
        "RetrievePropertiesEx",
        PC("propertyCollector"),
        {},
        PC._GetMethodInfo("RetrievePropertiesEx"),
        soap.VERSION,
    )
    val = soap.conform(value, soap.declared_type(mo_type, path))
    content = PC.ObjectContent(
        obj=mo_type("x-1"), propSet=[vmodl.DynamicProperty(name=path, val=val)]
    )
    body = soap.serialize_response(request, PC.RetrieveResult(objects=[content]))
    assert wire_type in body
    assert client_reads(body, request.info.result).objects[0].propSet[0].val == value


def test_a_path_the_type_does_not_declare_has_no_declared_type():
    assert soap.declared_type(vim.VirtualMachine, "summary.noSuchThing") is None
    assert soap.declared_type(vim.VirtualMachine, "summary.quickStats") is vim.vm.Summary.QuickStats


def test_an_array_item_of_the_wrong_type_is_invalid_argument():
    body = client_request(vim.ResourcePool("resgroup-1"), "MoveInto", [vim.VirtualMachine("vm-1")])
    body = re.sub(rb"<list [^>]*>vm-1</list>", b'<list xsi:type="xsd:string">vm-1</list>', body)
    with pytest.raises(soap.RequestError) as raised:
        soap.parse_request(body)
    assert (
        isinstance(raised.value.fault, vmodl.fault.InvalidArgument)
        and raised.value.fault.invalidProperty == "list"
    )


def test_a_scalar_of_the_wrong_type_is_invalid_argument():
    body = client_request(vim.SessionManager("SessionManager"), "Login", "admin", "pw", None)
    body = re.sub(
        rb"<userName[^>]*>admin</userName>", b'<userName xsi:type="xsd:int">5</userName>', body
    )
    with pytest.raises(soap.RequestError) as raised:
        soap.parse_request(body)
    assert raised.value.fault.invalidProperty == "userName"
