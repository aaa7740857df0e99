"""JSON shapes of the API, named like the vSphere API (memory in MB, CPU in MHz).

Serializers only translate and check types; every rule about reservations and power lives in
pools.services, which the views call. Types are JSON's own and never coerced: an id or a count
is a JSON integer (not 1.5, "2", true or 1e999), a flag a JSON boolean, a name a JSON string;
fields the server sets (id, powerState, runtime...) are refused when sent, by name.
"""

import math
from dataclasses import replace

from rest_framework import serializers

from hostsim import engine
from hostsim.models import (
    GUEST_OS_CHOICES,
    MMU_MODE_CHOICES,
    NAME_MAX_LENGTH,
    WORKLOAD_CHOICES,
    Host,
    VirtualMachine,
)
from pools import services
from pools.admission import MAX_AMOUNT, Allocation
from pools.models import ResourcePool
from pools.services import allocation_of

SHARE_LEVELS = ("low", "normal", "high", "custom")


# BigAutoField: a larger id cannot even be looked up (SQLite raises OverflowError).
MAX_ID = 2**63 - 1


def _bounds(model, name: str) -> dict[str, int]:
    """min_value and max_value of a model field, from its validators: the API refuses what the
    model refuses (and the model's bounds are the engine's, hostsim.models)."""
    bounds = {}
    for validator in model._meta.get_field(name).validators:
        if validator.code in ("min_value", "max_value"):
            bounds[validator.code] = validator.limit_value
    return bounds


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 instead of silently ignored, and fields
    the server sets, so a client never believes it changed one (PATCH {"powerState": ...})."""

    read_only_hints: dict[str, str] = {}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name in sorted(set(data) & set(self.fields)):
                if self.fields[name].read_only:
                    hint = self.read_only_hints.get(name, "the server sets it")
                    errors[name] = [f"Read-only field: {hint}."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _is_integer(data) -> bool:
    return isinstance(data, int) and not isinstance(data, bool)  # bool is an int in Python


class StrictInteger(serializers.IntegerField):
    """A JSON integer: refuses strings, floats and booleans instead of coercing them.

    A number too large for an integer (1e999, or more digits than the parser keeps) arrives as
    an infinite float and is refused as out of range, naming the field like any other.
    """

    def to_internal_value(self, data):
        if isinstance(data, float) and math.isinf(data):
            if data > 0 and self.max_value is not None:
                self.fail("max_value", max_value=self.max_value)
            if data < 0 and self.min_value is not None:
                self.fail("min_value", min_value=self.min_value)
        if not _is_integer(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloat(serializers.FloatField):
    """A finite JSON number: refuses strings, booleans, 1e999 and -1e999 instead of coercing."""

    default_error_messages = {"not_finite": "A finite number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("not_finite")
        return super().to_internal_value(data)


class StrictBoolean(serializers.BooleanField):
    """A JSON boolean: true or false, not "yes", "true", 1 or "on"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictChar(serializers.CharField):
    """A JSON string: refuses numbers (1e400 would become the name "inf") and everything else."""

    default_error_messages = {"not_a_string": "Must be a JSON string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictChoice(serializers.ChoiceField):
    """One of the choices, of the choices' own JSON type: "1" is not the setting 1, nor 1 "1"."""

    def to_internal_value(self, data):
        kinds = {type(choice) for choice in self.choices}
        if isinstance(data, bool) or type(data) not in kinds:
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictPrimaryKey(serializers.PrimaryKeyRelatedField):
    """An id: the JSON integer of an object that exists (1.5 is not pool 1, nor 2.9 host 2)."""

    def to_internal_value(self, data):
        if not _is_integer(data):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class SharesSerializer(StrictSerializer):
    """SharesInfo, read from and into an Allocation's shares_level and shares."""

    level = StrictChoice(choices=SHARE_LEVELS, source="shares_level")
    shares = StrictInteger(min_value=0, max_value=MAX_AMOUNT, required=False)


class AllocationSerializer(StrictSerializer):
    """ResourceAllocationInfo, to and from pools.admission's Allocation (each field's `source`).
    On input, omitted parts keep their current values."""

    reservation = StrictInteger(min_value=0, max_value=MAX_AMOUNT, required=False)
    limit = StrictInteger(min_value=-1, max_value=MAX_AMOUNT, required=False)
    expandableReservation = StrictBoolean(source="expandable", required=False)
    shares = SharesSerializer(source="*", required=False)

    @staticmethod
    def represent(alloc: Allocation, *, pool: bool) -> dict:
        data = _ALLOCATION.to_representation(alloc)
        if not pool:  # vSphere: expandableReservation "is ignored for virtual machines"
            del data["expandableReservation"]
        return data

    @staticmethod
    def merge(current: Allocation, given: dict) -> Allocation:
        return replace(current, **given)


_ALLOCATION = AllocationSerializer()


class AdvancedSettingsSerializer(StrictSerializer):
    """ESXi's Mem.* advanced settings by their ESXi names, with the engine's ranges; a PATCH
    may send any of them, the rest keep their values."""

    def get_fields(self):
        # DRF would read the dots in "Mem.ShareScanTime" as a source path, so each value is
        # validated under its own name in to_internal_value; the host answers with host.settings.
        return {
            name: StrictInteger(
                min_value=setting.minimum, max_value=setting.maximum, required=False
            )
            for name, setting in engine.ADVANCED_SETTINGS.items()
        }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected an object of settings."]}
            )
        errors = {name: ["Unknown setting."] for name in sorted(set(data) - set(self.fields))}
        clean = {}
        for name in sorted(set(data) & set(self.fields)):
            try:
                clean[name] = self.fields[name].run_validation(data[name])
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return clean

    def to_representation(self, instance):
        return dict(instance)


class HostSerializer(StrictSerializer):
    read_only_hints = {"rootPool": "every host has its own root pool, made with it"}

    id = serializers.IntegerField(read_only=True)
    name = StrictChar(max_length=NAME_MAX_LENGTH)
    memoryMB = StrictInteger(source="memory_mb", **_bounds(Host, "memory_mb"))
    cpuMhz = StrictInteger(source="cpu_mhz", **_bounds(Host, "cpu_mhz"))
    hardwareMmu = StrictBoolean(source="hardware_mmu", required=False)
    advancedSettings = AdvancedSettingsSerializer(source="advanced_settings", required=False)
    rootPool = serializers.SerializerMethodField()
    seed = StrictInteger(min_value=0, max_value=2**31 - 1, required=False)

    def get_rootPool(self, host: Host) -> int | None:
        return (
            ResourcePool.objects.filter(host=host, is_root=True)
            .values_list("pk", flat=True)
            .first()
        )

    def to_representation(self, host):
        data = super().to_representation(host)
        data["advancedSettings"] = host.settings
        return data

    def model_changes(self) -> dict:
        return dict(self.validated_data)


class PoolSerializer(StrictSerializer):
    read_only_hints = {
        "host": "a pool is on its parent's host",
        "runtime": "computed from the reservations in the pool",
    }

    id = serializers.IntegerField(read_only=True)
    name = StrictChar(max_length=NAME_MAX_LENGTH)
    parent = StrictPrimaryKey(queryset=ResourcePool.objects.all())
    host = serializers.IntegerField(source="host_id", read_only=True)
    cpuAllocation = AllocationSerializer(source="cpu", required=False)
    memoryAllocation = AllocationSerializer(source="memory", required=False)
    runtime = serializers.SerializerMethodField()

    def get_runtime(self, pool) -> dict:
        """ResourcePoolRuntimeInfo, computed once per host for a whole listing."""
        per_host = self.context.setdefault("runtime_by_host", {})
        if pool.host_id not in per_host:
            per_host[pool.host_id] = services.runtime(pool.host_id)
        return per_host[pool.host_id].get(pool.pk, {})

    def to_representation(self, pool):
        data = super().to_representation(pool)
        data["parent"] = pool.parent_id
        data["cpuAllocation"] = AllocationSerializer.represent(
            allocation_of(pool, "cpu"), pool=True
        )
        data["memoryAllocation"] = AllocationSerializer.represent(
            allocation_of(pool, "memory"), pool=True
        )
        return data


class VmSerializer(StrictSerializer):
    read_only_hints = {"powerState": "use POST vms/{id}/power-on/ or power-off/"}

    id = serializers.IntegerField(read_only=True)
    name = StrictChar(max_length=NAME_MAX_LENGTH)
    host = StrictPrimaryKey(queryset=Host.objects.all())
    resourcePool = StrictPrimaryKey(
        queryset=ResourcePool.objects.all(), source="resource_pool", required=False
    )
    memoryMB = StrictInteger(
        source="memory_mb", **_bounds(VirtualMachine, "memory_mb"), required=False
    )
    numCPUs = StrictInteger(source="vcpus", **_bounds(VirtualMachine, "vcpus"), required=False)
    guestOS = StrictChoice(
        source="guest_os", choices=[c for c, _ in GUEST_OS_CHOICES], required=False
    )
    workload = StrictChoice(choices=[c for c, _ in WORKLOAD_CHOICES], required=False)
    mmuMode = StrictChoice(
        source="mmu_mode", choices=[c for c, _ in MMU_MODE_CHOICES], required=False
    )
    pshareEnabled = StrictBoolean(source="pshare_enabled", required=False)
    pshareSalt = StrictChar(
        source="pshare_salt",
        max_length=_max_length(VirtualMachine, "pshare_salt"),
        allow_blank=True,
        required=False,
    )
    balloonDriver = StrictBoolean(source="balloon_driver", required=False)
    powerState = serializers.CharField(source="power_state", read_only=True)
    cpuAllocation = AllocationSerializer(source="cpu", required=False)
    memoryAllocation = AllocationSerializer(source="memory", required=False)

    def to_representation(self, vm: VirtualMachine):
        return {
            "id": vm.pk,
            "name": vm.name,
            "host": vm.host_id,
            "resourcePool": vm.resource_pool_id,
            "memoryMB": vm.memory_mb,
            "numCPUs": vm.vcpus,
            "guestOS": vm.guest_os,
            "workload": vm.workload,
            "mmuMode": vm.mmu_mode,
            "pshareEnabled": vm.pshare_enabled,
            "pshareSalt": vm.pshare_salt,
            "balloonDriver": vm.balloon_driver,
            "powerState": vm.power_state,
            "cpuAllocation": AllocationSerializer.represent(allocation_of(vm, "cpu"), pool=False),
            "memoryAllocation": AllocationSerializer.represent(
                allocation_of(vm, "memory"), pool=False
            ),
        }


def source_paths(serializer: serializers.Serializer) -> dict[str, tuple[str, ...]]:
    """Where the API shows each model field: its `source` -> the path of names to it. A nested
    allocation's parts are "<source>_<part>" (cpuAllocation.shares.level is cpu_shares_level)."""
    paths: dict[str, tuple[str, ...]] = {}
    for name, field in serializer.fields.items():
        if field.source != "*":
            paths[field.source] = (name,)
        if isinstance(field, serializers.Serializer):
            prefix = "" if field.source == "*" else f"{field.source}_"
            for source, path in source_paths(field).items():
                paths[prefix + source] = (name, *path)
    return paths


# Model field name -> API path, the one mapping: refusals of pools.services and of the models name
# model fields ("memory_mb", "memory_reservation"), the API answers under the names it reads.
API_FIELD_PATHS = {
    source: path
    for serializer in (HostSerializer(), PoolSerializer(), VmSerializer())
    for source, path in source_paths(serializer).items()
}


class MoveIntoSerializer(StrictSerializer):
    vms = serializers.ListField(
        child=StrictInteger(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=1000,
    )
    pools = serializers.ListField(
        child=StrictInteger(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=1000,
    )

    def validate(self, data):
        if not data["vms"] and not data["pools"]:
            raise serializers.ValidationError({"vms": ["Name at least one VM or pool to move."]})
        return data


class GuestOperationSerializer(StrictSerializer):
    action = StrictChoice(choices=["allocate", "free", "write"])
    mb = StrictInteger(min_value=1, required=False)
    fraction = StrictFloat(min_value=0.0, max_value=1.0, required=False)

    def validate(self, data):
        needs = "fraction" if data["action"] == "write" else "mb"
        other = "mb" if needs == "fraction" else "fraction"
        if needs not in data:
            raise serializers.ValidationError({needs: [f"Required for {data['action']}."]})
        if other in data:
            raise serializers.ValidationError({other: [f"Not used by {data['action']}."]})
        return data


class AdvanceSerializer(StrictSerializer):
    seconds = StrictInteger(min_value=20)
