"""The vim25 wire format, through pyVmomi's own deserializer and serializer.

Every pyVmomi internal the server uses is here, so a pyVmomi upgrade touches one module:
- requests are parsed by pyVmomi's SoapDeserializer, one parameter element at a time, typed by
  the method's parameter table (found from `_this`'s managed object type);
- `Fetch`, the call behind every attribute read of a pyVmomi client, has no entry in that table:
  its one parameter is `prop`, a property path;
- responses and faults are written by pyVmomi's SoapSerializer, with two corrections the clients
  need: a managed object reference inside an anyType value carries
  `xsi:type="ManagedObjectReference"` (govc decodes it as nil otherwise), and the fault detail
  element declares `xmlns="urn:vim25"` (pyVmomi looks the fault type up in that namespace);
- plain Python lists become typed vmodl arrays before they go into an anyType value
  (`DynamicProperty.val`), which pyVmomi refuses to serialize otherwise.
"""

from dataclasses import dataclass
from io import StringIO
from xml.parsers.expat import ExpatError, ParserCreate

from pyVmomi import VmomiSupport, vim, vmodl
from pyVmomi.SoapAdapter import (
    NS_SEP,
    SOAP_NSMAP,
    XML_HEADER,
    XMLNS_SOAPENV,
    ExpatDeserializerNSHandlers,
    GetHandlers,
    SetHandlers,
    SoapDeserializer,
    SoapSerializer,
    XmlEscape,
)

VIM_NS = "urn:vim25"
VERSION = VmomiSupport.newestVersions.GetName("vim")  # vim.version.v8_0_3_0 with pyVmomi 8.0.3
VERSION_ID = VmomiSupport.versionIdMap[VERSION]  # "8.0.3.0": what AboutInfo.apiVersion says
PRIOR_VERSION_IDS = (
    "8.0.2.0",
    "8.0.1.0",
    "8.0.0.0",
    "7.0.3.0",
    "7.0.2.0",
    "7.0.1.0",
    "7.0",
    "6.7",
    "6.5",
    "6.0",
)
F_OPTIONAL = VmomiSupport.F_OPTIONAL

_ENVELOPE_START = (
    XML_HEADER
    + "\n<soapenv:Envelope "
    + " ".join(f'xmlns:{p}="{ns}"' for ns, p in SOAP_NSMAP.items())
    + ">\n<soapenv:Body>"
)
_ENVELOPE_END = "</soapenv:Body>\n</soapenv:Envelope>"


class RequestError(Exception):
    """The request cannot be read as a vim25 call; `fault` is what the client gets."""

    def __init__(self, fault: vmodl.MethodFault):
        super().__init__(fault.msg)
        self.fault = fault


def invalid_request(message: str) -> RequestError:
    return RequestError(vmodl.fault.InvalidRequest(msg=message))


@dataclass
class Request:
    method: str  # the wsdl name, e.g. "RetrieveServiceContent"
    this: VmomiSupport.ManagedObject
    args: dict[str, object]  # parameter name -> typed value
    info: object  # pyVmomi's method info (or FETCH)
    version: str


FETCH = VmomiSupport.Object(
    name="fetch",
    wsdlName="Fetch",
    version=VERSION,
    params=(VmomiSupport.Object(name="prop", type=str, version=VERSION, flags=0),),
    isTask=False,
    result=object,
    resultFlags=F_OPTIONAL,
)


def version_of(soap_action: str) -> str:
    """The API version a client asks for in SOAPAction ("urn:vim25/8.0.3.0"); ours if unknown."""
    action = (soap_action or "").strip().strip('"')
    if action.startswith("urn:"):
        action = action[len("urn:") :]
    return VmomiSupport.versionMap.get(action, VERSION) if action.startswith("vim25/") else VERSION


_METHODS: dict[type, dict[str, object]] = {}


def method_info(mo_type: type, wsdl_name: str):
    """pyVmomi's info of `wsdl_name` on `mo_type` (or its bases); None if it has none."""
    table = _METHODS.get(mo_type)
    if table is None:
        table = _METHODS[mo_type] = {info.wsdlName: info for info in mo_type._GetMethodList()}
    if wsdl_name == "Fetch":
        return FETCH
    return table.get(wsdl_name)


def _split(tag: str) -> tuple[str, str]:
    ns, _, name = tag.rpartition(NS_SEP)
    return ns, name


class _RequestParser(ExpatDeserializerNSHandlers):
    """Envelope > Body > <Method> > parameters; each parameter goes to pyVmomi's deserializer."""

    def __init__(self, version: str):
        super().__init__()
        self.version = version
        self.path: list[str] = []
        self.method: str | None = None
        self.info = None
        self.this = None
        self.args: dict[str, object] = {}
        self._pending = None  # (parameter info, deserializer) of the element being read

    def parse(self, body: bytes) -> Request:
        self.parser = ParserCreate(namespace_separator=NS_SEP)
        self.parser.buffer_text = True
        SetHandlers(self.parser, GetHandlers(self))
        self.parser.StartDoctypeDeclHandler = self._refuse_doctype
        try:
            self.parser.Parse(body, True)
            self._collect()
        except RequestError:
            raise
        except ExpatError as exc:
            raise invalid_request(f"Malformed XML in the request body: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise invalid_request(f"Cannot read the request: {type(exc).__name__}: {exc}") from None
        if self.method is None:
            raise invalid_request("The SOAP body holds no method call.")
        if self.this is None:
            raise invalid_request(f"{self.method}: the _this parameter is missing.")
        for param in self.info.params:
            if param.name not in self.args and not param.flags & F_OPTIONAL:
                raise RequestError(
                    vmodl.fault.InvalidArgument(
                        msg=f"{self.method}: the required parameter {param.name} is missing.",
                        invalidProperty=param.name,
                    )
                )
        return Request(self.method, self.this, self.args, self.info, self.version)

    def _refuse_doctype(self, *args):
        raise invalid_request("Document type declarations are not accepted.")

    def _collect(self) -> None:
        """Take the value of the parameter pyVmomi's deserializer has just finished."""
        if self._pending is None:
            return
        param, deser, is_list = self._pending
        self._pending = None
        value = deser.GetResult()
        if param is None:  # _this
            if not isinstance(value, VmomiSupport.ManagedObject):
                raise invalid_request("_this must be a managed object reference.")
            self.this = value
            self.info = method_info(type(value), self.method)
            if self.info is None:
                raise RequestError(
                    vmodl.fault.MethodNotFound(
                        msg=f"The {type(value)._wsdlName} object has no method {self.method}.",
                        receiver=value,
                        method=self.method,
                    )
                )
            return
        if is_list:
            item = VmomiSupport.Object(
                name=param.name, type=param.type.Item, version=param.version, flags=0
            )
            self._check(item, value)
            self.args.setdefault(param.name, param.type()).append(value)
        else:
            self._check(param, value)
            self.args[param.name] = value

    def _check(self, param, value) -> None:
        try:
            VmomiSupport.CheckField(param, value)
        except TypeError as exc:
            raise RequestError(
                vmodl.fault.InvalidArgument(
                    msg=f"{self.method}: {param.name} has the wrong type ({exc}).",
                    invalidProperty=param.name,
                )
            ) from None

    def StartElementHandler(self, tag, attr):
        self._collect()
        ns, name = _split(tag)
        depth = len(self.path)
        expected = {0: (XMLNS_SOAPENV, "Envelope")}
        if depth == 0 and (ns, name) != expected[0]:
            raise invalid_request("The request is not a SOAP envelope.")
        if depth == 1 and (ns != XMLNS_SOAPENV or name not in ("Header", "Body")):
            raise invalid_request(f"Unexpected element {name} in the SOAP envelope.")
        if depth == 2 and self.path[1] == "Body":
            if self.method is not None:
                raise invalid_request("The SOAP body holds more than one method call.")
            if ns != VIM_NS:
                raise invalid_request(f"{name}: unknown namespace {ns!r} (expected {VIM_NS}).")
            self.method = name
        if depth == 3 and self.path[1] == "Body":
            self._start_parameter(name, tag, attr)
            return  # the deserializer consumes this element, up to and including its end tag
        self.path.append(name)

    def _start_parameter(self, name: str, tag, attr) -> None:
        if name == "_this":
            if self.this is not None:
                raise invalid_request("_this is given twice.")
            param, result_type, is_list = None, VmomiSupport.ManagedObject, False
        else:
            if self.this is None:
                raise invalid_request(f"{self.method}: _this must come first.")
            param = next((p for p in self.info.params if p.name == name), None)
            if param is None:
                raise RequestError(
                    vmodl.fault.InvalidArgument(
                        msg=f"{self.method} has no parameter {name}.", invalidProperty=name
                    )
                )
            is_list = issubclass(param.type, list)
            if name in self.args and not is_list:
                raise invalid_request(f"{self.method}: {name} is given twice.")
            result_type = param.type.Item if is_list else param.type
        deser = SoapDeserializer(version=self.version)
        deser.Deserialize(self.parser, result_type, nsMap=self.nsMap)
        deser.StartElementHandler(tag, attr)
        self._pending = (param, deser, is_list)

    def EndElementHandler(self, tag):
        self._collect()
        self.path.pop()

    def CharacterDataHandler(self, data):
        if len(self.path) == 3 and self.path[1] == "Body" and data.strip():
            raise invalid_request("Text where parameters were expected.")


def parse_request(body: bytes, soap_action: str = "") -> Request:
    """The call in a vim25 request body; RequestError (with the fault to send) if there is none."""
    return _RequestParser(version_of(soap_action)).parse(body)


# --- writing -----------------------------------------------------------------------------------


class _Serializer(SoapSerializer):
    def __init__(self, writer, version):
        ns_map = dict(SOAP_NSMAP)
        ns_map[VIM_NS] = ""
        super().__init__(writer, version, ns_map)
        self.outermostAttrs = ""  # no versionId attribute: vCenter's responses carry none

    def _Serialize(self, val, info, defNS):
        if (
            info.type is object
            and isinstance(val, VmomiSupport.ManagedObject)
            and VmomiSupport.IsChildVersion(self.version, info.version)
        ):
            # pyVmomi would write xsi:type="ManagedObject"; the WSDL type is ManagedObjectReference.
            self.writer.write(
                f'<{info.name} {self.xsiPrefix}type="ManagedObjectReference" '
                f'type="{VmomiSupport.GetWsdlName(type(val))}">{XmlEscape(val._moId)}</{info.name}>'
            )
            return
        super()._Serialize(val, info, defNS)


def serialize_response(request: Request, result) -> bytes:
    info = request.info
    out = StringIO()
    out.write(f'{_ENVELOPE_START}<{info.wsdlName}Response xmlns="{VIM_NS}">')
    if result is not None:
        returnval = VmomiSupport.Object(
            name="returnval", type=info.result, version=request.version, flags=info.resultFlags
        )
        _Serializer(out, request.version).Serialize(result, returnval)
    out.write(f"</{info.wsdlName}Response>{_ENVELOPE_END}")
    return out.getvalue().encode("utf-8")


def serialize_fault(fault: vmodl.MethodFault, version: str = VERSION) -> bytes:
    """A soapenv:Fault whose detail pyVmomi and govc turn back into `fault`."""
    message = fault.msg or type(fault).__name__
    fault_type = VmomiSupport.GetCompatibleType(type(fault), version)
    wsdl_name = VmomiSupport.GetWsdlName(fault_type)
    detail = StringIO()
    writer = _Serializer(detail, version)
    bare = VmomiSupport.Object(name=f"{wsdl_name}Fault", type=object, version=version, flags=0)
    writer._SerializeDataObject(fault, bare, f' xmlns="{VIM_NS}"', VIM_NS)
    code = "ClientFaultCode" if isinstance(fault, vmodl.fault.InvalidRequest) else "ServerFaultCode"
    body = (
        f"{_ENVELOPE_START}<soapenv:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{XmlEscape(message)}</faultstring><detail>{detail.getvalue()}</detail>"
        f"</soapenv:Fault>{_ENVELOPE_END}"
    )
    return body.encode("utf-8")


def typed(value):
    """`value` as an anyType may hold it: a plain list becomes a typed vmodl array."""
    if not isinstance(value, list) or isinstance(value, VmomiSupport.Array):
        return value
    if not value:
        return MANAGED_OBJECTS()
    first = value[0]
    if isinstance(first, VmomiSupport.ManagedObject) and len({type(v) for v in value}) > 1:
        return MANAGED_OBJECTS(value)
    return array_of(type(first), value)


MANAGED_OBJECTS = VmomiSupport.GetVmodlType(
    "vmodl.ManagedObject[]"
)  # ArrayOfManagedObjectReference
_PRIMITIVE_ARRAYS = {
    bool: "boolean[]",
    int: "long[]",
    float: "double[]",
    str: "string[]",
    VmomiSupport.short: "short[]",
    VmomiSupport.long: "long[]",
    type: "type[]",
}


def array_of(item_type, values=()):
    """A typed vmodl array of item_type, e.g. array_of(vim.VirtualMachine, vms), array_of(str)."""
    if item_type in _PRIMITIVE_ARRAYS:
        return VmomiSupport.GetVmodlType(_PRIMITIVE_ARRAYS[item_type])(values)
    return item_type.Array(values)


def service_versions_xml() -> bytes:
    prior = "".join(f"<version>{v}</version>" for v in PRIOR_VERSION_IDS)
    return (
        f'<?xml version="1.0" encoding="UTF-8" ?>\n<namespaces version="1.0">\n <namespace>\n'
        f"  <name>{VIM_NS}</name>\n  <version>{VERSION_ID}</version>\n"
        f"  <priorVersions>{prior}</priorVersions>\n </namespace>\n</namespaces>\n"
    ).encode()


# Faults a handler may raise for a value the client sent that pyVmomi could not check itself.
def invalid_argument(prop: str, message: str) -> vmodl.fault.InvalidArgument:
    return vmodl.fault.InvalidArgument(msg=message, invalidProperty=prop)


def not_authenticated(this) -> vim.fault.NotAuthenticated:
    return vim.fault.NotAuthenticated(
        msg="The session is not authenticated.", object=this, privilegeId="System.View"
    )


# --- keeping typed values between calls (a filter's spec in the session) ------------------------

_KEEP_START = (
    f'<kept xmlns="{VIM_NS}" '
    + " ".join(f'xmlns:{p}="{ns}"' for ns, p in SOAP_NSMAP.items() if p)
    + ">"
)


def dump(value, value_type, version: str = VERSION) -> str:
    """`value` as vim25 XML that `load` turns back into the same typed value."""
    out = StringIO()
    out.write(_KEEP_START)
    _Serializer(out, version).Serialize(
        value, VmomiSupport.Object(name="value", type=value_type, version=version, flags=0)
    )
    out.write("</kept>")
    return out.getvalue()


class _Loader(ExpatDeserializerNSHandlers):
    def __init__(self, value_type, version):
        super().__init__()
        self.value_type = value_type
        self.version = version
        self.deser = None

    def StartElementHandler(self, tag, attr):
        if _split(tag)[1] == "value" and self.deser is None:
            self.deser = SoapDeserializer(version=self.version)
            self.deser.Deserialize(self.parser, self.value_type, nsMap=self.nsMap)
            self.deser.StartElementHandler(tag, attr)

    def EndElementHandler(self, tag):
        pass

    def CharacterDataHandler(self, data):
        pass


def load(text: str, value_type, version: str = VERSION):
    loader = _Loader(value_type, version)
    loader.parser = ParserCreate(namespace_separator=NS_SEP)
    loader.parser.buffer_text = True
    SetHandlers(loader.parser, GetHandlers(loader))
    loader.parser.Parse(text.encode("utf-8"), True)
    return loader.deser.GetResult() if loader.deser else None


def declared_type(mo_type, path: str):
    """The WSDL type of `path` on `mo_type` ("summary.quickStats" -> VirtualMachineQuickStats),
    or None for a path the type does not declare."""
    current = mo_type
    for name in path.split("."):
        try:
            current = VmomiSupport.GetPropertyInfo(current, name).type
        except AttributeError:
            return None
        if issubclass(current, list) and name != path.rsplit(".", 1)[-1]:
            return None  # a path does not go through an array
    return current


_NUMBERS = (
    VmomiSupport.long,
    VmomiSupport.short,
    VmomiSupport.byte,
    int,
    float,
    VmomiSupport.double,
)


def conform(value, declared):
    """`value` typed as the WSDL declares it, for an anyType slot (DynamicProperty.val, Fetch):
    the client decodes by the xsi:type written, so an int[] must not go out as ArrayOfLong, nor a
    long as xsd:int (govmomi refuses the one and overflows on the other)."""
    if value is None or declared is None or declared is object:
        return typed(value)
    if issubclass(declared, list) and isinstance(value, list):
        item = declared.Item
        if item in _NUMBERS:
            return declared([item(v) for v in value])
        return value if type(value) is declared else declared(value)
    if declared in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        return declared(value)
    if (
        issubclass(declared, VmomiSupport.Enum)
        and isinstance(value, str)
        and not isinstance(value, declared)
    ):
        return declared(value)
    return typed(value)
