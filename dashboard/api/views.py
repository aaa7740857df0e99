"""The JSON API (DESIGN.md section 7): thin views that parse, call one service, and answer.

Errors are mapped to HTTP once, in dashboard.api.errors.
"""

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from dashboard.api import jobs
from dashboard.api.serializers import (
    AdvanceSerializer,
    AllocationSerializer,
    GuestOperationSerializer,
    HostSerializer,
    MoveIntoSerializer,
    PoolSerializer,
    VmSerializer,
)
from dashboard.api.stats import StatsActionMixin
from hostsim import fastforward, guest_operations, runtime
from hostsim.models import AdvanceJob, Host, VirtualMachine
from pools import services
from pools.models import ResourcePool

# Arrays and objects nested deeper than this are refused before parsing: Python's json recurses
# once per level and raises RecursionError near 1000, and so would anything walking the result.
# The deepest body the API reads is 3 levels (memoryAllocation.shares.level inside the body).
JSON_MAX_DEPTH = 64
# Integer literals longer than this become infinite floats, which every field refuses as out of
# range (naming the field). The largest id is 19 digits; Python refuses to parse more than 4300.
JSON_MAX_INTEGER_DIGITS = 40

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.DOTALL)  # possessive: linear, even unclosed
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def _refuse_deep_nesting(text: str) -> None:
    """ParseError unless arrays and objects nest at most JSON_MAX_DEPTH deep (and pair up).

    Strings are blanked, everything but brackets dropped, then innermost pairs peeled off level
    by level, each level in one sweep of str.replace: a 2.5 MB body costs well under a second.
    """
    if text.count("[") + text.count("{") <= JSON_MAX_DEPTH:
        return
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(JSON_MAX_DEPTH):
        peeled = brackets.replace("[]", "").replace("{}", "")
        if not peeled:
            return
        if peeled == brackets:
            raise ParseError("JSON parse error - brackets do not pair up.")
        brackets = peeled
    raise ParseError(
        f"JSON parse error - arrays and objects nest more than {JSON_MAX_DEPTH} levels deep."
    )


def _parse_int(literal: str) -> int | float:
    if len(literal.lstrip("-")) > JSON_MAX_INTEGER_DIGITS:
        return float("-inf") if literal.startswith("-") else float("inf")
    return int(literal)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJSONParser(JSONParser):
    """JSON as the API reads it, refused as malformed (400) rather than failing later (500):
    nesting deeper than JSON_MAX_DEPTH; NaN and Infinity (not JSON); text that is not Unicode,
    such as an escaped lone surrogate ("\\ud800") that no UTF-8 column or response can hold."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _refuse_deep_nesting(text)
        try:
            data = json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError(
                "JSON parse error - strings must be Unicode text (a lone surrogate was sent)."
            ) from None
        return data


class BoundedMultiPartParser(MultiPartParser):
    """Multipart bodies obey DATA_UPLOAD_MAX_MEMORY_SIZE too (Django applies it to JSON and form
    bodies, but streams multipart file parts to disk whatever their size): a larger one is a 413."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {})["request"]
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") or "0"
        if limit is not None and length.isdigit() and int(length) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return super().parse(stream, media_type, parser_context)


PARSERS = [StrictJSONParser, FormParser, BoundedMultiPartParser]


def _valid(serializer_class, request, **kwargs):
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer


def _objects(model, ids: list[int], field: str):
    found = {obj.pk: obj for obj in model.objects.filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise ValidationError({field: [f"Unknown id(s): {', '.join(missing)}."]})
    return [found[pk] for pk in ids]


def _allocations(data: dict, current) -> dict:
    """The allocations sent (under the serializers' sources "cpu" and "memory"), each merged
    into the current one: what is left out of a part keeps its value."""
    return {
        resource: AllocationSerializer.merge(
            services.allocation_of(current, resource), data[resource]
        )
        for resource in services.RESOURCES
        if resource in data
    }


class HostViewSet(
    StatsActionMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    queryset = Host.objects.all()
    serializer_class = HostSerializer
    parser_classes = PARSERS
    stats_entity_kind = "host"

    def perform_create(self, serializer):
        serializer.instance = services.create_host(**serializer.model_changes())

    def perform_update(self, serializer):
        serializer.instance = services.update_host(
            serializer.instance, **serializer.model_changes()
        )

    @extend_schema(request=AdvanceSerializer, responses={200: dict, 202: dict, 409: dict})
    @action(detail=True, methods=["get", "post"])
    def advance(self, request, pk=None):
        """Fast-forward the host: POST queues a job (one per host at a time) that runs on the
        worker holding the engine, storing every sample; GET lists the host's recent jobs."""
        host = self.get_object()
        if request.method == "GET":
            return jobs.recent_jobs(host.pk, request)
        seconds = _valid(AdvanceSerializer, request).validated_data["seconds"]
        if seconds > settings.SIM_ADVANCE_MAX_SECONDS:
            raise ValidationError(
                {
                    "seconds": [
                        f"At most {settings.SIM_ADVANCE_MAX_SECONDS} simulated seconds at once."
                    ]
                }
            )
        try:
            job = fastforward.request_advance(host.pk, seconds, request.user.get_username())
        except runtime.AdvanceConflict as exc:
            return jobs.conflict_response(exc.job, request)
        return jobs.job_response(fastforward.wait_briefly(job), request, created=True)

    @extend_schema(
        operation_id="hosts_advance_job_retrieve", request=None, responses={200: dict, 202: dict}
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"advance/(?P<job_id>[0-9]{1,18})",
        url_name="advance-job",
    )
    def advance_job(self, request, pk=None, job_id=None):
        """One fast-forward job: state, progress and the simulated time reached."""
        return jobs.job_response(self._job(job_id), request)

    @extend_schema(
        operation_id="hosts_advance_job_cancel", request=None, responses={200: dict, 202: dict}
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"advance/(?P<job_id>[0-9]{1,18})/cancel",
        url_name="advance-cancel",
    )
    def advance_cancel(self, request, pk=None, job_id=None):
        """Cancel a queued or running fast-forward; what it simulated so far stays stored."""
        return jobs.job_response(runtime.cancel_advance(self._job(job_id)), request)

    def _job(self, job_id: str) -> AdvanceJob:
        host = self.get_object()
        job = AdvanceJob.objects.filter(host=host, pk=int(job_id)).first()
        if job is None:
            raise NotFound(f"Host {host.pk} has no fast-forward job {job_id}.")
        return job


class PoolViewSet(StatsActionMixin, viewsets.ModelViewSet):
    queryset = ResourcePool.objects.select_related("parent")
    serializer_class = PoolSerializer
    parser_classes = PARSERS
    stats_entity_kind = "pool"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        parent = data["parent"]
        allocations = _allocations(data, ResourcePool())
        serializer.instance = services.create_pool(
            parent, data["name"], allocations.get("cpu"), allocations.get("memory")
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        pool = serializer.instance
        if "parent" in data and data["parent"].pk != pool.parent_id:
            raise ValidationError({"parent": ["Use move-into on the new parent to move a pool."]})
        allocations = _allocations(data, pool)
        serializer.instance = services.update_pool(
            pool,
            name=data.get("name"),
            cpu=allocations.get("cpu"),
            memory=allocations.get("memory"),
        )

    def get_serializer(self, *args, **kwargs):
        if kwargs.get("partial") is None and self.action == "update":
            kwargs["partial"] = True  # PUT keeps what it omits, as vSphere's UpdateConfig does
        return super().get_serializer(*args, **kwargs)

    def perform_destroy(self, pool):
        services.delete_pool(pool)

    @extend_schema(request=MoveIntoSerializer, responses={200: PoolSerializer})
    @action(detail=True, methods=["post"], url_path="move-into")
    def move_into(self, request, pk=None):
        """MoveIntoResourcePool: move VMs and pools of the same host into this pool."""
        target = self.get_object()
        data = _valid(MoveIntoSerializer, request).validated_data
        if data["vms"] and not request.user.has_perm("hostsim.change_virtualmachine"):
            raise PermissionDenied("Moving VMs needs the permission to change virtual machines.")
        vms = _objects(VirtualMachine, data["vms"], "vms")
        pools = _objects(ResourcePool, data["pools"], "pools")
        return Response(self.get_serializer(services.move_into(target, vms, pools)).data)


class VmViewSet(StatsActionMixin, viewsets.ModelViewSet):
    queryset = VirtualMachine.objects.select_related("host")
    serializer_class = VmSerializer
    parser_classes = PARSERS
    stats_entity_kind = "vm"

    SETTINGS = services.VM_SETTINGS

    def get_serializer(self, *args, **kwargs):
        if self.action == "update":
            kwargs["partial"] = True
        return super().get_serializer(*args, **kwargs)

    def _settings(self, data: dict) -> dict:
        return {field: data[field] for field in self.SETTINGS if field in data}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_vm(
            data["host"],
            pool=data.get("resource_pool"),
            **_allocations(data, VirtualMachine()),
            **self._settings(data),
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        vm = serializer.instance
        if "host" in data and data["host"].pk != vm.host_id:
            raise ValidationError(
                {"host": ["A VM cannot change host here (no vMotion in the lab)."]}
            )
        if "resource_pool" in data and data["resource_pool"].pk != vm.resource_pool_id:
            raise ValidationError(
                {"resourcePool": ["Use move-into on the target pool to move a VM."]}
            )
        serializer.instance = services.reconfigure_vm(
            vm, **_allocations(data, vm), **self._settings(data)
        )

    def perform_destroy(self, vm):
        services.delete_vm(vm)

    @extend_schema(request=None, responses={200: VmSerializer})
    @action(detail=True, methods=["post"], url_path="power-on")
    def power_on(self, request, pk=None):
        """PowerOnVM_Task, refused with 409 by admission control when reservations do not fit."""
        return Response(self.get_serializer(services.power_on(self.get_object())).data)

    @extend_schema(request=None, responses={200: VmSerializer})
    @action(detail=True, methods=["post"], url_path="power-off")
    def power_off(self, request, pk=None):
        return Response(self.get_serializer(services.power_off(self.get_object())).data)

    @extend_schema(request=GuestOperationSerializer, responses={202: dict})
    @action(detail=True, methods=["post"])
    def guest(self, request, pk=None):
        """Make the guest allocate, free or write memory; applied by the host's next tick."""
        vm = self.get_object()
        data = _valid(GuestOperationSerializer, request).validated_data
        amount = data["fraction"] if data["action"] == "write" else data["mb"]
        operation = guest_operations.request_guest_operation(
            vm, data["action"], amount, request.user.get_username()
        )
        return Response(
            {
                "id": operation.pk,
                "vm": vm.pk,
                "action": operation.action,
                "amount": operation.amount,
                "status": "queued",
            },
            status=status.HTTP_202_ACCEPTED,
        )
