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

from dashboard.api.serializers import API_FIELD_PATHS
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


def _api_fields(fields: dict[str, str]) -> dict:
    """Refusals name model fields ("memory_mb", "memory_reservation"); the API answers under the
    names it reads ("memoryMB", {"memoryAllocation": {"reservation"}}), found through the
    serializers' sources, so a client finds the message under the field it sent."""
    answer: dict = {}
    for key, message in fields.items():
        path = API_FIELD_PATHS.get(key, (key,))
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
