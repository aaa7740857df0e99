"""The /sdk endpoint: parse one vim25 call, check the session, dispatch it, write the answer.

A call runs in one thread (the ORM is synchronous); only WaitForUpdates(Ex) waits, and it waits
here, on the channel layer, holding no thread: the handler says which hosts' ticks could change
its answer (collector.WaitForTicks), this view sleeps until one of them ticks or the client's
maxWaitSeconds runs out, then asks again. Every failure becomes a SOAP fault (HTTP 500, as
vCenter and the SOAP 1.1 binding answer a fault); nothing becomes Django's 500 page.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import close_old_connections
from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from pyVmomi import vmodl

from config.login_throttle import client_address
from dashboard.access import INVENTORY_GROUP, perf_group
from vsphere import inventory, morefs, registry, sessions, soap
from vsphere.collector import WaitForTicks

log = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"
# What vCenter answers without a session: the service content, the clock, Login, and reading
# SessionManager.currentSession (clients ask it to find out whether they are logged in).
ANONYMOUS = {
    ("ServiceInstance", "RetrieveServiceContent"),
    ("ServiceInstance", "CurrentTime"),
    ("SessionManager", "Login"),
}
WAIT_RECHECK_S = 60  # an unlimited wait still looks again this often (a missed message)
COLLECTOR_READS = ("RetrieveProperties", "RetrievePropertiesEx")


@dataclass
class Answer:
    status: int
    body: bytes
    cookie: str | None = None
    wait: WaitForTicks | None = None


def _type_names(mo) -> list[str]:
    return [cls._wsdlName for cls in type(mo).__mro__ if "_wsdlName" in cls.__dict__]


def _handler(request: soap.Request):
    for name in _type_names(request.this):
        handler = registry.METHODS.get((name, request.method))
        if handler is not None:
            return handler
    return None


def _reads_only_session_manager(request: soap.Request) -> bool:
    if request.method == "Fetch":
        return morefs.type_name(request.this) == "SessionManager"
    if request.method not in COLLECTOR_READS:
        return False
    specs = request.args.get("specSet") or []
    objects = [spec for f in specs for spec in (f.objectSet or [])]
    return bool(objects) and all(
        morefs.type_name(spec.obj) == "SessionManager" and not spec.selectSet for spec in objects
    )


def fetch(call: registry.Call):
    """Fetch: one property of one object (what pyVmomi sends for `mo.attribute`)."""
    path = call.args["prop"]
    return soap.typed(inventory.read_property(call.this, path))


def _fault(fault: vmodl.MethodFault, version: str) -> Answer:
    return Answer(500, soap.serialize_fault(fault, version))


def _call(request: soap.Request, session) -> Answer:
    key = (morefs.type_name(request.this), request.method)
    if session is None and key not in ANONYMOUS and not _reads_only_session_manager(request):
        return _fault(soap.not_authenticated(request.this), request.version)
    handler = fetch if request.method == "Fetch" else _handler(request)
    if handler is None:
        return _fault(
            vmodl.fault.MethodNotFound(
                msg=f"{request.method} is not implemented by the lab's {key[0]}.",
                receiver=request.this,
                method=request.method,
            ),
            request.version,
        )
    try:
        morefs.check_singleton(request.this)
        with inventory.scope(session.user if session else None):
            result = handler(
                registry.Call(
                    user=session.user if session else None, this=request.this, args=request.args
                )
            )
    except WaitForTicks as wait:
        return Answer(200, soap.serialize_response(request, wait.on_timeout), wait=wait)
    except registry.InvalidProperty as exc:
        return _fault(
            vmodl.query.InvalidProperty(msg=f"Unknown property {exc.path!r}.", name=exc.path),
            request.version,
        )
    except vmodl.MethodFault as fault:
        return _fault(fault, request.version)
    try:
        return Answer(200, soap.serialize_response(request, result))
    except (TypeError, ValueError, AttributeError):  # a result that does not match the schema
        log.exception("cannot serialize the result of %s", request.method)
        return _fault(_internal_error(), request.version)


def _internal_error() -> vmodl.fault.SystemError:
    """What a client learns of a failure inside the lab: that it happened (the log has why)."""
    return vmodl.fault.SystemError(
        msg="Internal error; see the lab's log.", reason="internal error"
    )


def handle(body: bytes, soap_action: str, cookie: str | None, client: sessions.Client) -> Answer:
    """One call, start to end, in one thread."""
    close_old_connections()
    try:
        request = soap.parse_request(body, soap_action)
    except soap.RequestError as exc:
        return _fault(exc.fault, soap.VERSION)
    try:
        with sessions.serialized(cookie):
            session = sessions.open_session(cookie, client)
            answer = _call(request, session)
            current = sessions.current()  # Login made one, Logout ended one
            if current is not None:
                if current.modified:
                    current.save()
                if current is not session:
                    answer.cookie = current.key
    except sessions.SessionBusy as exc:
        return _fault(vmodl.fault.SystemError(msg=str(exc), reason=str(exc)), request.version)
    except Exception:  # a bug must still answer as a SOAP fault, never as an HTML 500
        log.exception("the %s call failed", request.method)
        return _fault(_internal_error(), request.version)
    finally:
        close_old_connections()
    return answer


async def _wait_for_ticks(wait: WaitForTicks, timeout: float) -> None:
    """Sleep until a tick of one of the hosts (or an inventory change) or the timeout."""
    layer = get_channel_layer()
    if layer is None:
        await asyncio.sleep(timeout)
        return
    channel = await layer.new_channel("vsphere.wait.")
    groups = [INVENTORY_GROUP, *(perf_group("host", host_id) for host_id in wait.host_ids)]
    for group in groups:
        await layer.group_add(group, channel)
    try:
        await asyncio.wait_for(layer.receive(channel), timeout=timeout)
    except TimeoutError:
        pass
    finally:
        for group in groups:
            await layer.group_discard(group, channel)


def _response(answer: Answer, https: bool) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=XML)
    # A fault is an answer, not a server error: Django would log every 500 as one (a real
    # failure inside a call is logged where it is caught, in `handle`).
    response._has_been_logged = True
    if answer.cookie:
        response.set_cookie(
            sessions.COOKIE_NAME, answer.cookie, httponly=True, secure=https, samesite="Strict"
        )
    return response


@csrf_exempt
@login_not_required
async def sdk(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"], "The vSphere API takes SOAP requests by POST.")
    # Read at most the limit, also from a chunked body (no Content-Length for Django to check).
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = request.read(limit + 1)
    if len(body) > limit:
        fault = soap.invalid_request(
            f"The request body is larger than the {limit} bytes the API accepts."
        ).fault
        return _response(_fault(fault, soap.VERSION), request.is_secure())
    client = sessions.Client(
        client_address(request), request.META.get("HTTP_USER_AGENT", ""), request.is_secure()
    )
    cookie = request.COOKIES.get(sessions.COOKIE_NAME)
    action = request.META.get("HTTP_SOAPACTION", "")
    started = time.monotonic()
    while True:
        answer = await sync_to_async(handle, thread_sensitive=False)(body, action, cookie, client)
        if answer.wait is None:
            return _response(answer, request.is_secure())
        if answer.wait.seconds is None:  # WaitForUpdates without a limit: check at every tick
            remaining = WAIT_RECHECK_S
        else:
            remaining = answer.wait.seconds - (time.monotonic() - started)
            if remaining <= 0:  # the body is the call's answer on timeout (no updates)
                return _response(answer, request.is_secure())
        await _wait_for_ticks(answer.wait, remaining)


@login_not_required
def service_versions(request):
    return HttpResponse(soap.service_versions_xml(), content_type=XML)
