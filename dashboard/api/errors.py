"""Every API error, mapped to the shapes of DESIGN.md section 7, in one place.

400 {"error", "fields"} for invalid input ("fields" empty when no field is to blame); 409 {"error",
"fault", "pool", "resource", "requested", "unreserved"} for admission control; 401/403/404/405
and 413 (a body over DATA_UPLOAD_MAX_MEMORY_SIZE) with {"error"}; never a 500 for input.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pools.errors import AdmissionDenied, InvalidOperation, ManagedObjectNotFound


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _field_messages(detail) -> dict:
    if isinstance(detail, dict):
        return {
            key: _field_messages(value) if isinstance(value, dict) else _flatten(value)
            for key, value in detail.items()
        }
    return {"non_field_errors": _flatten(detail)}


# pools.services names fields as the models and pools.admission do ("memory_mb",
# "memory.reservation"); the API answers in the names it reads ("memoryMB",
# {"memoryAllocation": {"reservation"}}), so a client finds the message under the field it sent.
_API_FIELDS = {
    "memory_mb": ("memoryMB",),
    "vcpus": ("numCPUs",),
    "guest_os": ("guestOS",),
    "mmu_mode": ("mmuMode",),
    "pshare_enabled": ("pshareEnabled",),
    "pshare_salt": ("pshareSalt",),
    "resource_pool": ("resourcePool",),
    "hardware_mmu": ("hardwareMmu",),
    "cpu_mhz": ("cpuMhz",),
    "advanced_settings": ("advancedSettings",),
    "balloon_driver": ("balloonDriver",),
}
_ALLOCATIONS = {"cpu": "cpuAllocation", "memory": "memoryAllocation"}
_ALLOCATION_PARTS = {
    "reservation": ("reservation",),
    "limit": ("limit",),
    "expandable": ("expandableReservation",),
    "shares_level": ("shares", "level"),
    "shares": ("shares", "shares"),
}


def _api_fields(fields: dict[str, str]) -> dict:
    answer: dict = {}
    for key, message in fields.items():
        resource, _, part = key.partition(".")
        if resource in _ALLOCATIONS and part in _ALLOCATION_PARTS:
            path = (_ALLOCATIONS[resource], *_ALLOCATION_PARTS[part])
        else:
            path = _API_FIELDS.get(key, (key,))
        node = answer
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = message
    return answer


def _bad_request(error: str, fields: dict) -> Response:
    return Response({"error": error, "fields": fields}, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc, context):
    if isinstance(exc, AdmissionDenied):
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ManagedObjectNotFound):  # deleted by a concurrent request
        return Response({"error": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"error": f"The request body is larger than the {limit} bytes the API accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):  # e.g. too many form fields; Django's answer is HTML
        return _bad_request(f"Malformed request body: {exc}", {})
    if isinstance(exc, InvalidOperation):
        return _bad_request(str(exc), _api_fields(exc.fields))
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {name: _flatten(messages) for name, messages in exc.message_dict.items()}
            return _bad_request("Invalid input: " + " ".join(fields.values()), _api_fields(fields))
        exc = exceptions.ValidationError(exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        return _bad_request(f"Invalid input: {_flatten(exc.detail)}", _field_messages(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return _bad_request(f"Malformed request body: {exc.detail}", {})
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = (
            response.data.get("detail", response.data)
            if isinstance(response.data, dict)
            else response.data
        )
        response.data = {"error": _flatten(detail)}
    return response
