"""The JSON API (DESIGN.md section 7): thin views that parse, call one service, and answer.

Errors are mapped to HTTP once, in dashboard.api.errors.
"""

import json

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from dashboard.api import serializers as s
from dashboard.api.stats import StatsActionMixin
from hostsim import runtime
from hostsim.fastforward import fast_forward
from hostsim.models import Host, VirtualMachine
from pools import services
from pools.models import ResourcePool


class UnicodeJSONParser(JSONParser):
    """JSON whose strings are Unicode text. JSON can escape a lone surrogate ("\\ud800") that no
    UTF-8 column or response can hold: refused here as malformed, before it reaches a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - strings must be Unicode text (a lone surrogate was sent).") from None
        return data


PARSERS = [UnicodeJSONParser, FormParser, MultiPartParser]


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
    return {
        resource: s.AllocationSerializer.merge(services.allocation_of(current, resource), data[key])
        for resource, key in (("cpu", "cpuAllocation"), ("memory", "memoryAllocation"))
        if key in data
    }


class HostViewSet(StatsActionMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Host.objects.all()
    serializer_class = s.HostSerializer
    parser_classes = PARSERS
    stats_entity_kind = "host"

    def perform_create(self, serializer):
        serializer.instance = services.create_host(**serializer.model_changes())

    def perform_update(self, serializer):
        serializer.instance = services.update_host(serializer.instance, **serializer.model_changes())

    @extend_schema(request=s.AdvanceSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def advance(self, request, pk=None):
        """Fast-forward the host's simulation, storing every sample on the way."""
        host = self.get_object()
        seconds = _valid(s.AdvanceSerializer, request).validated_data["seconds"]
        if seconds > settings.SIM_ADVANCE_MAX_SECONDS:
            raise ValidationError({"seconds": [f"At most {settings.SIM_ADVANCE_MAX_SECONDS} simulated seconds at once."]})
        try:
            result = fast_forward(host.pk, seconds)
        except runtime.HostBusy as exc:
            return Response({"error": str(exc)}, status=status.HTTP_409_CONFLICT)
        running = result["status"] == "running"
        return Response(result, status=status.HTTP_202_ACCEPTED if running else status.HTTP_200_OK)


class PoolViewSet(StatsActionMixin, viewsets.ModelViewSet):
    queryset = ResourcePool.objects.select_related("parent")
    serializer_class = s.PoolSerializer
    parser_classes = PARSERS
    stats_entity_kind = "pool"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        parent = data["parent"]
        allocations = _allocations(data, ResourcePool())
        serializer.instance = services.create_pool(parent, data["name"], allocations.get("cpu"), allocations.get("memory"))

    def perform_update(self, serializer):
        data = serializer.validated_data
        pool = serializer.instance
        if "parent" in data and data["parent"].pk != pool.parent_id:
            raise ValidationError({"parent": ["Use move-into on the new parent to move a pool."]})
        allocations = _allocations(data, pool)
        serializer.instance = services.update_pool(pool, name=data.get("name"), cpu=allocations.get("cpu"), memory=allocations.get("memory"))

    def get_serializer(self, *args, **kwargs):
        if kwargs.get("partial") is None and self.action == "update":
            kwargs["partial"] = True  # PUT keeps what it omits, as vSphere's UpdateConfig does
        return super().get_serializer(*args, **kwargs)

    def perform_destroy(self, pool):
        services.delete_pool(pool)

    @extend_schema(request=s.MoveIntoSerializer, responses={200: s.PoolSerializer})
    @action(detail=True, methods=["post"], url_path="move-into")
    def move_into(self, request, pk=None):
        """MoveIntoResourcePool: move VMs and pools of the same host into this pool."""
        target = self.get_object()
        data = _valid(s.MoveIntoSerializer, request).validated_data
        if data["vms"] and not request.user.has_perm("hostsim.change_virtualmachine"):
            raise PermissionDenied("Moving VMs needs the permission to change virtual machines.")
        vms = _objects(VirtualMachine, data["vms"], "vms")
        pools = _objects(ResourcePool, data["pools"], "pools")
        services.move_into(target, vms, pools)
        return Response(self.get_serializer(ResourcePool.objects.get(pk=target.pk)).data)


class VmViewSet(StatsActionMixin, viewsets.ModelViewSet):
    queryset = VirtualMachine.objects.select_related("host")
    serializer_class = s.VmSerializer
    parser_classes = PARSERS
    stats_entity_kind = "vm"

    SETTINGS = {"name": "name", "memory_mb": "memory_mb", "vcpus": "vcpus", "guest_os": "guest_os",
                "workload": "workload", "mmu_mode": "mmu_mode", "pshare_enabled": "pshare_enabled",
                "pshare_salt": "pshare_salt"}

    def get_serializer(self, *args, **kwargs):
        if self.action == "update":
            kwargs["partial"] = True
        return super().get_serializer(*args, **kwargs)

    def _settings(self, data: dict) -> dict:
        return {field: data[field] for field in self.SETTINGS if field in data}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_vm(
            data["host_obj"], pool=data.get("resourcePool"), **_allocations(data, VirtualMachine()), **self._settings(data)
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        vm = serializer.instance
        if "host_obj" in data and data["host_obj"].pk != vm.host_id:
            raise ValidationError({"host": ["A VM cannot change host here (no vMotion in the lab)."]})
        if "resourcePool" in data and data["resourcePool"].pk != vm.resource_pool_id:
            raise ValidationError({"resourcePool": ["Use move-into on the target pool to move a VM."]})
        serializer.instance = services.reconfigure_vm(vm, **_allocations(data, vm), **self._settings(data))

    def perform_destroy(self, vm):
        services.delete_vm(vm)

    @extend_schema(request=None, responses={200: s.VmSerializer})
    @action(detail=True, methods=["post"], url_path="power-on")
    def power_on(self, request, pk=None):
        """PowerOnVM_Task, refused with 409 by admission control when reservations do not fit."""
        return Response(self.get_serializer(services.power_on(self.get_object())).data)

    @extend_schema(request=None, responses={200: s.VmSerializer})
    @action(detail=True, methods=["post"], url_path="power-off")
    def power_off(self, request, pk=None):
        return Response(self.get_serializer(services.power_off(self.get_object())).data)

    @extend_schema(request=s.GuestOperationSerializer, responses={202: dict})
    @action(detail=True, methods=["post"])
    def guest(self, request, pk=None):
        """Make the guest allocate, free or write memory; applied by the host's next tick."""
        vm = self.get_object()
        data = _valid(s.GuestOperationSerializer, request).validated_data
        amount = data["fraction"] if data["action"] == "write" else data["mb"]
        operation = services.request_guest_operation(vm, data["action"], amount, request.user.get_username())
        return Response(
            {"id": operation.pk, "vm": vm.pk, "action": operation.action, "amount": operation.amount, "status": "queued"},
            status=status.HTTP_202_ACCEPTED,
        )
