"""Hosts, virtual machines and their performance samples.

Every field the simulation needs lives here; the engine itself (hostsim.engine) knows nothing of
the database. Writes that need admission control (power state, allocations, pool membership) go
through pools.services; this module describes the data (and how the runtime and the rollups
store samples: `Sample.objects.store_new`).
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connections, models, transaction
from django.db.models import F

from hostsim import engine
from hostsim.engine.host import MAX_HOST_MB, MAX_NAME, MAX_SALT, MAX_VCPUS, MAX_VM_MB, MIN_VM_MB

# The engine owns the limits of what it simulates (and cites them); the fields take them from there.
NAME_MAX_LENGTH = MAX_NAME  # vSphere allows 80 characters in an inventory name
# The lab's own, stricter bounds for a host (the engine simulates hosts from 64 MB and any CPU).
HOST_MIN_MB = 1024
HOST_CPU_MHZ_RANGE = (1000, 1_000_000)
name_validator = RegexValidator(r"^\S(.*\S)?$", "Names cannot start or end with white space.")
# Control characters cannot be written in XML 1.0 (the vSphere API's clients fail on them) and
# mean nothing in a name.
no_control_characters = RegexValidator(
    r"[\x00-\x1f\x7f]", "Names cannot contain control characters.", inverse_match=True
)


def validate_advanced_settings(value) -> None:
    """The engine owns the Mem.* advanced settings (names, defaults, ranges); ask it."""
    if not isinstance(value, dict):
        raise ValidationError("Advanced settings are a mapping of ESXi names to whole numbers.")
    try:
        engine.validate_settings(value)
    except engine.EngineError as exc:
        raise ValidationError(str(exc)) from None


# Mem.ShareForceSalting's values, as the admin and the lab controls offer them (VMware KB 2097593).
SALTING_CHOICES = [
    (0, "0: share across all VMs (before ESXi 6.0)"),
    (1, "1: share among VMs with the same sched.mem.pshare.salt"),
    (2, "2: share only inside each VM unless salts match (default)"),
]


def _range(low, high):
    return [MinValueValidator(low), MaxValueValidator(high)]


class SharesLevel(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    CUSTOM = "custom", "Custom"


class ResourceAllocation(models.Model):
    """CPU (MHz) and memory (MB) allocation, as vSphere's ResourceAllocationInfo.

    Shared by VMs and resource pools. A limit of -1 means unlimited.
    """

    cpu_reservation = models.PositiveIntegerField("CPU reservation (MHz)", default=0)
    cpu_limit = models.IntegerField(
        "CPU limit (MHz)", default=-1, validators=[MinValueValidator(-1)]
    )
    cpu_shares_level = models.CharField(
        "CPU shares", max_length=8, choices=SharesLevel.choices, default=SharesLevel.NORMAL
    )
    cpu_shares = models.PositiveIntegerField("CPU shares value", default=0)
    memory_reservation = models.PositiveIntegerField("Memory reservation (MB)", default=0)
    memory_limit = models.IntegerField(
        "Memory limit (MB)", default=-1, validators=[MinValueValidator(-1)]
    )
    memory_shares_level = models.CharField(
        "Memory shares", max_length=8, choices=SharesLevel.choices, default=SharesLevel.NORMAL
    )
    memory_shares = models.PositiveIntegerField("Memory shares value", default=0)

    class Meta:
        abstract = True


class Host(models.Model):
    name = models.CharField(
        max_length=NAME_MAX_LENGTH, unique=True, validators=[name_validator, no_control_characters]
    )
    memory_mb = models.PositiveIntegerField(
        "Memory (MB)",
        validators=_range(HOST_MIN_MB, MAX_HOST_MB),
        help_text="Installed machine memory.",
    )
    cpu_mhz = models.PositiveIntegerField(
        "CPU (MHz)",
        validators=_range(*HOST_CPU_MHZ_RANGE),
        help_text="Total CPU capacity: cores x clock.",
    )
    hardware_mmu = models.BooleanField(
        "Hardware-assisted MMU",
        default=True,
        help_text="The CPU supports EPT (Intel) or RVI (AMD) nested page tables.",
    )
    advanced_settings = models.JSONField(
        "Advanced settings",
        default=dict,
        blank=True,
        validators=[validate_advanced_settings],
        help_text="ESXi's Mem.* advanced settings that differ from their defaults, by ESXi name.",
    )
    resource_tree = models.JSONField(
        default=dict,
        editable=False,
        help_text="The host's resource pools as the simulation divides memory down them, written "
        "by pools.services whenever the tree changes (hostsim never reads pools itself).",
    )
    seed = models.PositiveIntegerField(default=0, help_text="Seed of the simulation's randomness.")
    config_version = models.PositiveIntegerField(default=1, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def settings(self) -> dict[str, int]:
        """Every Mem.* advanced setting in effect: the engine's defaults, then this host's own."""
        return engine.default_settings() | self.advanced_settings

    def bump_config_version(self) -> None:
        Host.objects.filter(pk=self.pk).update(config_version=F("config_version") + 1)


# The engine's presets (hostsim.engine) are the one list of guest OSes and workloads.
GUEST_OS_CHOICES = [(name, preset.label) for name, preset in engine.GUEST_OS_PRESETS.items()]
WORKLOAD_CHOICES = [(name, preset.label) for name, preset in engine.WORKLOAD_PRESETS.items()]
MMU_MODE_CHOICES = [
    ("automatic", "Automatic"),
    ("software", "Software (shadow page tables)"),
    ("hardware", "Hardware (EPT/RVI)"),
]


class PowerState(models.TextChoices):
    POWERED_OFF = "poweredOff", "Powered off"
    POWERED_ON = "poweredOn", "Powered on"


class VirtualMachine(ResourceAllocation):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="vms")
    # Pool membership is known by model label only: hostsim never imports pools (DESIGN.md 2).
    resource_pool = models.ForeignKey(
        "pools.ResourcePool", on_delete=models.PROTECT, related_name="vms", null=True, blank=True
    )
    name = models.CharField(
        max_length=NAME_MAX_LENGTH, validators=[name_validator, no_control_characters]
    )
    memory_mb = models.PositiveIntegerField(
        "Memory (MB)", default=2048, validators=_range(MIN_VM_MB, MAX_VM_MB)
    )
    vcpus = models.PositiveSmallIntegerField("vCPUs", default=2, validators=_range(1, MAX_VCPUS))
    guest_os = models.CharField(
        "Guest OS", max_length=16, choices=GUEST_OS_CHOICES, default="linux"
    )
    workload = models.CharField(max_length=16, choices=WORKLOAD_CHOICES, default="idle")
    mmu_mode = models.CharField(
        "CPU/MMU virtualization",
        max_length=16,
        choices=MMU_MODE_CHOICES,
        default="automatic",
    )
    pshare_enabled = models.BooleanField("sched.mem.pshare.enable", default=True)
    pshare_salt = models.CharField(
        "sched.mem.pshare.salt", max_length=MAX_SALT, blank=True, default=""
    )
    balloon_driver = models.BooleanField(
        "Balloon driver",
        default=True,
        help_text="VMware Tools' balloon driver (vmmemctl) runs in the guest; without it the host "
        "swaps where it would balloon.",
    )
    power_state = models.CharField(
        max_length=12, choices=PowerState.choices, default=PowerState.POWERED_OFF, editable=False
    )
    config_version = models.PositiveIntegerField(default=1, editable=False)
    # Each power-on counts, so the simulation sees a VM powered off and on again between two of
    # its ticks as the fresh boot it is (both states alone would look like nothing happened).
    power_on_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "name"], name="unique_vm_name_per_host")
        ]
        verbose_name = "virtual machine"

    def __str__(self) -> str:
        return self.name

    @property
    def powered_on(self) -> bool:
        return self.power_state == PowerState.POWERED_ON

    def bump_config_version(self) -> None:
        VirtualMachine.objects.filter(pk=self.pk).update(config_version=F("config_version") + 1)


class GuestOperation(models.Model):
    """What a user asked the guest to do (allocate, free, write), applied by the next tick.

    Kept in the database so a request survives a worker restart and is applied exactly once: the
    tick marks it applied in the same transaction that stores the samples it produced.
    """

    class Action(models.TextChoices):
        ALLOCATE = "allocate", "Allocate"
        FREE = "free", "Free"
        WRITE = "write", "Write"

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        POWERED_OFF = "powered-off", "Not applied: the VM is powered off"
        NOT_ON_HOST = "not-on-host", "Not applied: the VM is not on this host"
        REFUSED = "refused", "Not applied: the guest refused it"

    vm = models.ForeignKey(
        VirtualMachine, on_delete=models.CASCADE, related_name="guest_operations"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    amount = models.FloatField(help_text="MB for allocate and free; a fraction 0..1 for write.")
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text="Simulated time it took effect."
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    detail = models.CharField(max_length=200, blank=True, help_text="Why the guest refused it.")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["vm", "applied_at"])]

    def __str__(self) -> str:
        return f"{self.vm} {self.action} {self.amount:g}"


class EntityKind(models.TextChoices):
    HOST = "host", "Host"
    POOL = "pool", "Resource pool"
    VM = "vm", "Virtual machine"


class StatsInterval(NamedTuple):
    seconds: int  # sample period
    retention: int  # seconds a sample is kept
    timespan: str  # the Performance chart's timespan that reads this interval
    label: str


# vCenter's statistics intervals, finest first; each level rolls up the one before it (vSphere
# Monitoring and Performance, "Data Collection Intervals"; real-time is ESXi's own hour). The one
# table: rollups, retention, the stats API and the charts' timespans all read it.
STATS_INTERVALS = (
    StatsInterval(20, 3600, "realtime", "Real-time"),
    StatsInterval(300, 86400, "day", "Last day"),  # 5-minute averages for a day
    StatsInterval(1800, 7 * 86400, "week", "Last week"),  # 30-minute averages for a week
    StatsInterval(7200, 30 * 86400, "month", "Last month"),  # 2-hour averages for a month
    StatsInterval(86400, 365 * 86400, "year", "Last year"),  # daily averages for a year
)
REALTIME_INTERVAL = STATS_INTERVALS[0].seconds
INTERVAL_RETENTION = {interval.seconds: interval.retention for interval in STATS_INTERVALS}
INTERVALS = tuple(INTERVAL_RETENTION)


SAMPLE_BATCH = 1000  # samples per INSERT: a day's 5-minute rollups of a host are a few thousand


class SampleQuerySet(models.QuerySet):
    def store_new(
        self, host_id: int, interval: int, samples: Iterable[tuple[str, int, datetime, dict]]
    ) -> None:
        """Store (entity_kind, entity_id, ts, values) samples of one host and interval, except the
        ones already stored: a retried tick, chunk or rollup never duplicates or rewrites a sample.

        On PostgreSQL each batch goes as one JSON document that the server splits into rows: with
        bulk_create, psycopg quoted every row's values in Python, which cost a fast-forward about
        1 ms per tick (a chunk stores some 400 samples).
        """
        samples = list(samples)
        if not samples:
            return
        if connections[self.db].vendor != "postgresql":
            self.bulk_create(
                [
                    Sample(
                        host_id=host_id,
                        entity_kind=kind,
                        entity_id=entity_id,
                        interval=interval,
                        ts=ts,
                        values=values,
                    )
                    for kind, entity_id, ts, values in samples
                ],
                ignore_conflicts=True,
                batch_size=SAMPLE_BATCH,
            )
            return
        # All batches or none, as bulk_create: rollups stored in part would pass for done.
        with (
            transaction.atomic(using=self.db, savepoint=False),
            connections[self.db].cursor() as cursor,
        ):
            for start in range(0, len(samples), SAMPLE_BATCH):
                batch = samples[start : start + SAMPLE_BATCH]
                document = [
                    {
                        "entity_kind": kind,
                        "entity_id": entity_id,
                        "ts": ts.isoformat(),
                        "values": values,
                    }
                    for kind, entity_id, ts, values in batch
                ]
                cursor.execute(
                    f"INSERT INTO {Sample._meta.db_table} "
                    '(host_id, entity_kind, entity_id, interval, ts, "values") '
                    'SELECT %s, entity_kind, entity_id, %s, ts, "values" '
                    "FROM jsonb_to_recordset(%s::jsonb) "
                    'AS r(entity_kind varchar, entity_id bigint, ts timestamptz, "values" jsonb) '
                    "ON CONFLICT DO NOTHING",
                    [host_id, interval, json.dumps(document)],
                )


class Sample(models.Model):
    """One point of the performance charts: all counters of one entity at one simulated time.

    Real-time rows hold `{"mem.granted": KB, ...}`; rolled-up rows hold the average, minimum and
    maximum of each counter as `{"mem.granted.average": ..., ".minimum", ".maximum"}`.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    entity_kind = models.CharField(max_length=4, choices=EntityKind.choices)
    entity_id = models.PositiveBigIntegerField()
    interval = models.PositiveIntegerField(choices=[(i, str(i)) for i in INTERVALS])
    ts = models.DateTimeField()
    values = models.JSONField()

    objects = SampleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_kind", "entity_id", "interval", "ts"], name="unique_sample_per_time"
            )
        ]
        indexes = [models.Index(fields=["host", "interval", "ts"])]

    def __str__(self) -> str:
        return (
            f"{self.entity_kind} {self.entity_id} @ {self.ts:%Y-%m-%d %H:%M:%S} ({self.interval} s)"
        )


class HostView(models.Model):
    """What the engine showed of a host at its newest tick, beyond the counters: esxtop's memory
    screen (hostsim.engine.counters.esxtop). Written with the tick's samples, one row per host."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="view")
    ts = models.DateTimeField()
    esxtop = models.JSONField()

    def __str__(self) -> str:
        return f"view of {self.host} at {self.ts:%Y-%m-%d %H:%M:%S}"


class Checkpoint(models.Model):
    """The latest engine snapshot of a host, so a new worker resumes where the last one stopped."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="checkpoint")
    clock = models.DateTimeField(
        help_text="Simulated time of the last sample the snapshot includes."
    )
    engine_state = models.BinaryField()
    vm_map = models.JSONField(
        help_text="Database VM id -> engine VM id and applied config versions."
    )
    host_version = models.PositiveIntegerField()
    saved = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"checkpoint of {self.host} at {self.clock:%Y-%m-%d %H:%M:%S}"


class AdvanceJob(models.Model):
    """A fast-forward of one host: run in chunks on the worker that holds the host's engine.

    Progress (`ticks_done`, `reached`) is written in the same transaction as the samples of each
    chunk, so a job resumed after a worker crash neither repeats nor skips a tick. At most one job
    per host is queued or running at a time (a constraint, so two requests cannot both start one).
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (State.QUEUED, State.RUNNING)

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="advance_jobs")
    state = models.CharField(max_length=9, choices=State.choices, default=State.QUEUED)
    ticks_total = models.PositiveIntegerField()
    ticks_done = models.PositiveIntegerField(default=0)
    simulated_from = models.DateTimeField(null=True, blank=True)
    reached = models.DateTimeField(
        null=True, blank=True, help_text="Simulated time reached so far."
    )
    cancel_requested = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)
    wall_seconds = models.FloatField(default=0.0, help_text="Time spent running chunks.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["host"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_advance_job_per_host",
            )
        ]

    def __str__(self) -> str:
        return (
            f"fast-forward of {self.host} "
            f"({self.state}, {self.ticks_done}/{self.ticks_total} ticks)"
        )

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def progress(self) -> float:
        return self.ticks_done / self.ticks_total if self.ticks_total else 1.0
