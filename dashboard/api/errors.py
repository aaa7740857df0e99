"""Every API error, mapped to the shapes of DESIGN.md section 7, in one place.

400 {"error", "fields"} for invalid input; 409 {"error", "fault", "resource", "requested",
"unreserved"} for admission control; 401/403/404/405 with {"error"}; never a 500 for input.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pools.errors import AdmissionDenied, InvalidOperation


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _field_messages(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _field_messages(value) if isinstance(value, dict) else _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def exception_handler(exc, context):
    if isinstance(exc, AdmissionDenied):
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InvalidOperation):
        body = {"error": str(exc), "fields": exc.fields} if exc.fields else {"error": str(exc)}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_messages(exc.detail)
        return Response({"error": "Invalid input.", "fields": fields}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        return Response({"error": f"Malformed request body: {exc.detail}"}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"error": _flatten(detail)}
    return response
