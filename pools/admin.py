"""Admin for hosts, resource pools and VMs, with admission control on every form.

Each form builds one ServiceCall from what it cleaned: a pools.services verb with its arguments.
The form's clean() asks the verb's check (services.check_*), so a refusal shows on the field it
concerns with vSphere's numbers; save_model runs the verb itself on the same arguments, which
checks again under its locks and writes. The check runs on the host's tree as locked now, not on
an unlocked snapshot: the admin's change view is one transaction (ModelAdmin.changeform_view is
atomic), so the lock clean() takes holds until the save commits, and what the form accepted is
what the save does (a concurrent change waits instead of turning an accepted form into an error
page).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from hostsim import engine
from hostsim.engine.advanced_settings import SHARE_FORCE_SALTING
from hostsim.models import SALTING_CHOICES, Host, VirtualMachine
from pools import services
from pools.admission import ALLOCATION_PARTS, Allocation
from pools.errors import AdmissionDenied, InvalidOperation
from pools.models import ResourcePool
from pools.shares import share_percentages


@dataclass
class ServiceCall:
    """One call of a pools.services verb, `do(target, *args, **kwargs)`, with its check,
    `check(tree, current target, *args, **kwargs)`: the form's clean() asks the one, its save
    runs the other, on the same arguments."""

    check: Callable
    do: Callable
    target: Host | ResourcePool | VirtualMachine  # what the verb locks the tree of and re-reads
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def refusal(self) -> Exception | None:
        """What the check refuses now, on the tree locked for the rest of the request; or None."""
        try:
            with (
                transaction.atomic()
            ):  # a savepoint: a refusal leaves the request's transaction usable
                tree, current = services.locked(self.target)
                self.check(tree, current, *self.args, **self.kwargs)
        except (AdmissionDenied, InvalidOperation) as refusal:
            return refusal
        return None

    def run(self):
        return self.do(self.target, *self.args, **self.kwargs)


class ServiceForm(forms.ModelForm):
    """A form whose clean() asks the check of the ServiceCall that `service_call` builds from
    the cleaned data (None: nothing to ask), and keeps the call for the admin's save_model."""

    service: ServiceCall | None = None

    def service_call(self, data: dict) -> ServiceCall | None:
        raise NotImplementedError(f"{type(self).__name__} names the service it saves with")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        self.service = self.service_call(data)
        refusal = self.service.refusal() if self.service else None
        if refusal:
            add_refusal(self, refusal)
        return data


def add_refusal(form: forms.ModelForm, refusal: Exception) -> None:
    """Show a refusal on the fields it concerns (or on the form when it concerns none).

    Refusals name model fields ("memory_reservation"), which are the form's own."""
    if isinstance(refusal, AdmissionDenied):
        name = f"{refusal.resource or 'memory'}_reservation"
        form.add_error(name if name in form.fields else None, str(refusal))
        return
    placed = False
    for name, message in getattr(refusal, "fields", {}).items():
        if name in form.fields:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, str(refusal))


def form_allocation(data: dict, resource: str, expandable: bool | None = None) -> Allocation:
    """One resource's allocation from the form's fields <resource>_<part>; a part the form does
    not show (or a blank shares value) is Allocation's default."""
    given = {
        part: data[f"{resource}_{part}"]
        for part in ALLOCATION_PARTS
        if data.get(f"{resource}_{part}") is not None
    }
    alloc = replace(Allocation(expandable=False), **given)
    return alloc if expandable is None else replace(alloc, expandable=expandable)


ALLOCATION_FIELDSETS = (
    ("CPU (MHz)", {"fields": ("cpu_reservation", "cpu_limit", "cpu_shares_level", "cpu_shares")}),
    (
        "Memory (MB)",
        {"fields": ("memory_reservation", "memory_limit", "memory_shares_level", "memory_shares")},
    ),
)


class ServiceSaves:
    """Saves go through the form's ServiceCall (a pools.services verb); a new host, which has no
    tree to check yet, through create_host."""

    def save_model(self, request, obj, form, change):
        obj.pk = form.service.run().pk


class ServiceDeletes:
    """Deletes go through a pools.services function; a refusal is a message, not an error page."""

    delete_service = None  # e.g. services.delete_vm, set as staticmethod on each admin

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (AdmissionDenied, InvalidOperation) as refusal:  # the delete rolled back
            self.message_user(request, f"Not deleted: {refusal}", messages.ERROR)
            return redirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )

    def delete_model(self, request, obj):
        self.delete_service(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.order_by("-id"):
            try:
                self.delete_service(obj)
            except (AdmissionDenied, InvalidOperation) as refusal:
                self.message_user(request, f'"{obj}" not deleted: {refusal}', messages.ERROR)


# --- hosts ---------------------------------------------------------------------------------------


def _setting_field(setting) -> forms.Field:
    if setting.name == SHARE_FORCE_SALTING:
        return forms.TypedChoiceField(
            label=setting.name, choices=SALTING_CHOICES, coerce=int, initial=setting.default
        )
    return forms.IntegerField(
        label=setting.name,
        min_value=setting.minimum,
        max_value=setting.maximum,
        initial=setting.default,
        help_text=f"{setting.description} Default {setting.default}.",
    )


# One form field per ESXi advanced setting, from the engine's table (names, ranges, defaults).
SETTING_FIELDS = {
    "setting_" + name.replace(".", "_"): setting
    for name, setting in engine.ADVANCED_SETTINGS.items()
}


class _HostForm(ServiceForm):
    class Meta:
        model = Host
        fields = ["name", "memory_mb", "cpu_mhz", "hardware_mmu", "seed"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.settings
        for key, setting in SETTING_FIELDS.items():
            self.fields[key].initial = current[setting.name]

    def changes(self) -> dict:
        """What services.create_host / update_host take: model fields and the settings."""
        data = self.cleaned_data
        changes = {name: data[name] for name in self.Meta.fields if name in data}
        changes["advanced_settings"] = {
            setting.name: data[key] for key, setting in SETTING_FIELDS.items() if key in data
        }
        return changes

    def service_call(self, data: dict) -> ServiceCall | None:
        if self.instance.pk is None:  # created by services.create_host (HostAdmin.save_model)
            return None
        return ServiceCall(
            services.check_update_host, services.update_host, self.instance, kwargs=self.changes()
        )


HostForm = type(
    "HostForm",
    (_HostForm,),
    {key: _setting_field(setting) for key, setting in SETTING_FIELDS.items()},
)


def _settings_fieldset(title: str, group: dict) -> tuple:
    return (title, {"fields": [key for key, s in SETTING_FIELDS.items() if s.name in group]})


@admin.register(Host)
class HostAdmin(ServiceDeletes, ServiceSaves, admin.ModelAdmin):
    delete_service = staticmethod(services.delete_host)

    form = HostForm
    list_display = ("name", "memory_mb", "cpu_mhz", "hardware_mmu")
    fieldsets = (
        (None, {"fields": ("name", "memory_mb", "cpu_mhz", "hardware_mmu", "seed")}),
        _settings_fieldset(
            "Transparent page sharing (ESXi advanced settings)", engine.TPS_SETTINGS
        ),
        _settings_fieldset(
            "Memory under contention (ESXi advanced settings)", engine.CONTENTION_SETTINGS
        ),
    )

    def get_deleted_objects(self, objs, request):
        """The host goes with its pools and VMs (services.delete_host); the root pool's
        undeletable flag and the pools' PROTECT links are for pool deletes, not this."""
        deleted, counts, _perms, _protected = super().get_deleted_objects(objs, request)
        perms = set() if self.has_delete_permission(request) else {str(self.opts.verbose_name)}
        return deleted, counts, perms, []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.create_host(**form.changes()).pk


# --- resource pools ------------------------------------------------------------------------------


class PoolForm(ServiceForm):
    class Meta:
        model = ResourcePool
        fields = [
            "host",
            "parent",
            "name",
            "cpu_reservation",
            "cpu_limit",
            "cpu_expandable",
            "cpu_shares_level",
            "cpu_shares",
            "memory_reservation",
            "memory_limit",
            "memory_expandable",
            "memory_shares_level",
            "memory_shares",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "parent" in self.fields:
            self.fields["parent"].required = True
        for name in ("cpu_shares", "memory_shares"):
            if name in self.fields:
                self.fields[
                    name
                ].help_text = "Only for custom shares; other levels follow vSphere's table."

    def service_call(self, data: dict) -> ServiceCall | None:
        parent = data.get("parent")
        if (
            self.instance.pk is None
            and parent is not None
            and data.get("host")
            and parent.host_id != data["host"].pk
        ):
            self.add_error("parent", "The parent pool must be on the same host.")
            return None
        cpu, memory = form_allocation(data, "cpu"), form_allocation(data, "memory")
        if self.instance.pk is None:
            return ServiceCall(
                services.check_create_pool,
                services.create_pool,
                parent,
                (data.get("name", ""), cpu, memory),
            )
        return ServiceCall(
            services.check_move_and_update_pool,
            services.move_and_update_pool,
            self.instance,
            (parent,),
            {"name": data.get("name"), "cpu": cpu, "memory": memory},
        )


@admin.register(ResourcePool)
class ResourcePoolAdmin(ServiceDeletes, ServiceSaves, admin.ModelAdmin):
    delete_service = staticmethod(services.delete_pool)

    form = PoolForm
    list_display = (
        "tree_name",
        "host",
        "cpu_summary",
        "memory_summary",
        "cpu_share_percent",
        "memory_share_percent",
    )
    list_filter = ("host",)
    fieldsets = (
        (None, {"fields": ("host", "parent", "name")}),
        (
            "CPU (MHz)",
            {
                "fields": (
                    "cpu_reservation",
                    "cpu_expandable",
                    "cpu_limit",
                    "cpu_shares_level",
                    "cpu_shares",
                )
            },
        ),
        (
            "Memory (MB)",
            {
                "fields": (
                    "memory_reservation",
                    "memory_expandable",
                    "memory_limit",
                    "memory_shares_level",
                    "memory_shares",
                )
            },
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("host", "parent")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.is_root:
            return [f for fs in self.fieldsets for f in fs[1]["fields"]]
        return ("host",)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.is_root)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self._tree_cache = {}
        # Each pool right below its parent, as in the inventory tree: ids alone put a pool created
        # (or moved) later below unrelated ones, and the indentation would then lie.
        changelist.result_list = sorted(changelist.result_list, key=self._tree_position)
        return changelist

    def _tree_position(self, pool):
        snap, _ = self._host_view(pool)
        return (pool.host.name, pool.host_id, snap.preorder().index(pool.pk))

    def _host_view(self, pool):
        cache = getattr(self, "_tree_cache", None)
        if cache is None:
            cache = self._tree_cache = {}
        if pool.host_id not in cache:
            snap = services.snapshot(pool.host_id)
            cache[pool.host_id] = (snap, services.runtime(pool.host_id))
        return cache[pool.host_id]

    @admin.display(description="Resource pool")
    def tree_name(self, pool):
        snap, _ = self._host_view(pool)
        depth = len(snap.ancestors(pool.pk))
        return format_html(
            '<span style="padding-left:{}em">{}{}</span>',
            depth * 1.5,
            "└ " if depth else "",
            pool.name,
        )

    def _summary(self, pool, resource):
        _, runtime = self._host_view(pool)
        figures = runtime.get(pool.pk, {}).get(resource, {})
        unit = "MHz" if resource == "cpu" else "MB"
        return format_html(
            "used {} {} · unreserved {} {}",
            figures.get("reservationUsed", 0),
            unit,
            figures.get("unreservedForVm", 0),
            unit,
        )

    @admin.display(description="CPU reservation")
    def cpu_summary(self, pool):
        return self._summary(pool, "cpu")

    @admin.display(description="Memory reservation")
    def memory_summary(self, pool):
        return self._summary(pool, "memory")

    def _share_percent(self, pool, resource):
        if pool.parent_id is None:
            return "100 %"
        snap, _ = self._host_view(pool)
        for child in share_percentages(snap, pool.parent_id, resource):
            if child.kind == "pool" and child.id == pool.pk:
                return f"{child.percent:.1f} %"
        return "-"

    @admin.display(description="CPU shares %")
    def cpu_share_percent(self, pool):
        return self._share_percent(pool, "cpu")

    @admin.display(description="Memory shares %")
    def memory_share_percent(self, pool):
        return self._share_percent(pool, "memory")

    def get_deleted_objects(self, objs, request):
        """Only the pools themselves go: their VMs and child pools move to the parent
        (services.delete_pool), so none of them is listed as deleted or as protecting the pool."""
        pools = list(objs)
        perms_needed = {
            str(self.opts.verbose_name)
            for pool in pools
            if not self.has_delete_permission(request, pool)
        }
        return (
            [str(pool) for pool in pools],
            {self.opts.verbose_name_plural: len(pools)},
            perms_needed,
            [],
        )


# --- virtual machines ----------------------------------------------------------------------------

VM_FORM_SETTINGS = list(services.VM_SETTINGS)


class VmForm(ServiceForm):
    class Meta:
        model = VirtualMachine
        fields = [
            "host",
            "resource_pool",
            *VM_FORM_SETTINGS,
            "cpu_reservation",
            "cpu_limit",
            "cpu_shares_level",
            "cpu_shares",
            "memory_reservation",
            "memory_limit",
            "memory_shares_level",
            "memory_shares",
        ]

    def service_call(self, data: dict) -> ServiceCall | None:
        pool = data.get("resource_pool")
        host = data.get("host") or self.instance.host
        if pool is not None and pool.host_id != host.pk:
            self.add_error("resource_pool", "Choose a pool of this VM's host.")
            return None
        settings = {name: data[name] for name in VM_FORM_SETTINGS if name in data}
        allocations = {
            "cpu": form_allocation(data, "cpu", False),
            "memory": form_allocation(data, "memory", False),
        }
        if self.instance.pk is None:
            return ServiceCall(
                services.check_create_vm,
                services.create_vm,
                host,
                kwargs={"pool": pool, **allocations, **settings},
            )
        return ServiceCall(
            services.check_move_and_reconfigure_vm,
            services.move_and_reconfigure_vm,
            self.instance,
            (pool,),
            {**allocations, **settings},
        )


@admin.register(VirtualMachine)
class VirtualMachineAdmin(ServiceDeletes, ServiceSaves, admin.ModelAdmin):
    delete_service = staticmethod(services.delete_vm)

    form = VmForm
    list_display = (
        "name",
        "host",
        "resource_pool",
        "power_state",
        "memory_mb",
        "vcpus",
        "guest_os",
        "workload",
        "mmu_mode",
        "pshare_enabled",
        "memory_reservation",
    )
    list_filter = ("host", "power_state", "guest_os", "workload")
    actions = ["power_on", "power_off"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "host",
                    "resource_pool",
                    "name",
                    "memory_mb",
                    "vcpus",
                    "guest_os",
                    "workload",
                )
            },
        ),
        (
            "Memory management",
            {"fields": ("mmu_mode", "pshare_enabled", "pshare_salt", "balloon_driver")},
        ),
        *ALLOCATION_FIELDSETS,
    )

    def get_readonly_fields(self, request, obj=None):
        return ("host",) if obj else ()

    def _power(self, request, queryset, operation, verb):
        for vm in queryset:
            try:
                operation(vm)
            except (AdmissionDenied, InvalidOperation) as refusal:
                self.message_user(
                    request, f'Cannot power {verb} "{vm.name}": {refusal}', messages.ERROR
                )
            else:
                self.message_user(request, f'"{vm.name}" powered {verb}.', messages.SUCCESS)

    @admin.action(description="Power on", permissions=["change"])
    def power_on(self, request, queryset):
        self._power(request, queryset, services.power_on, "on")

    @admin.action(description="Power off", permissions=["change"])
    def power_off(self, request, queryset):
        self._power(request, queryset, services.power_off, "off")
