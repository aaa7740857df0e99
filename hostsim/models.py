"""Hosts, virtual machines and their performance samples.

Every field the simulation needs lives here; the engine itself (hostsim.engine) knows nothing of
the database. Writes that need admission control (power state, allocations, pool membership) go
through pools.services; this module only describes the data.
"""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F

from hostsim import engine

NAME_MAX_LENGTH = 80  # vSphere allows 80 characters in an inventory name
name_validator = RegexValidator(r"^\S(.*\S)?$", "Names cannot start or end with white space.")

# ESXi's TPS advanced settings: defaults and ranges are the engine's, which cites their source.
def _tps(name: str) -> tuple[int, tuple[int, int]]:
    setting = engine.TPS_SETTINGS[name]
    return setting.default, (setting.minimum, setting.maximum)


SHARE_SCAN_TIME_DEFAULT, SHARE_SCAN_TIME_RANGE = _tps("Mem.ShareScanTime")  # minutes
SHARE_SCAN_GHZ_DEFAULT, SHARE_SCAN_GHZ_RANGE = _tps("Mem.ShareScanGHz")  # MB/s per GHz
SHARE_RATE_MAX_DEFAULT, SHARE_RATE_MAX_RANGE = _tps("Mem.ShareRateMax")  # pages/s per VM
SHARE_FORCE_SALTING_DEFAULT, _ = _tps("Mem.ShareForceSalting")  # 2 since ESXi 6.0 (KB 2097593)


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
    cpu_limit = models.IntegerField("CPU limit (MHz)", default=-1, validators=[MinValueValidator(-1)])
    cpu_shares_level = models.CharField(
        "CPU shares", max_length=8, choices=SharesLevel.choices, default=SharesLevel.NORMAL
    )
    cpu_shares = models.PositiveIntegerField("CPU shares value", default=0)
    mem_reservation = models.PositiveIntegerField("Memory reservation (MB)", default=0)
    mem_limit = models.IntegerField("Memory limit (MB)", default=-1, validators=[MinValueValidator(-1)])
    mem_shares_level = models.CharField(
        "Memory shares", max_length=8, choices=SharesLevel.choices, default=SharesLevel.NORMAL
    )
    mem_shares = models.PositiveIntegerField("Memory shares value", default=0)

    class Meta:
        abstract = True


class Host(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True, validators=[name_validator])
    memory_mb = models.PositiveIntegerField(
        "Memory (MB)", validators=_range(1024, 4 * 1024 * 1024), help_text="Installed machine memory."
    )
    cpu_mhz = models.PositiveIntegerField(
        "CPU (MHz)", validators=_range(1000, 1_000_000), help_text="Total CPU capacity: cores x clock."
    )
    hardware_mmu = models.BooleanField(
        "Hardware-assisted MMU",
        default=True,
        help_text="The CPU supports EPT (Intel) or RVI (AMD) nested page tables.",
    )
    share_scan_time = models.PositiveIntegerField(
        "Mem.ShareScanTime", default=SHARE_SCAN_TIME_DEFAULT, validators=_range(*SHARE_SCAN_TIME_RANGE),
        help_text="Minutes to scan each VM's memory once for sharing.",
    )
    share_scan_ghz = models.PositiveIntegerField(
        "Mem.ShareScanGHz", default=SHARE_SCAN_GHZ_DEFAULT, validators=_range(*SHARE_SCAN_GHZ_RANGE),
        help_text="MB/s of scanning per GHz of host CPU; 0 turns page sharing off.",
    )
    share_rate_max = models.PositiveIntegerField(
        "Mem.ShareRateMax", default=SHARE_RATE_MAX_DEFAULT, validators=_range(*SHARE_RATE_MAX_RANGE),
        help_text="Most pages per second scanned in one VM.",
    )
    share_force_salting = models.PositiveSmallIntegerField(
        "Mem.ShareForceSalting",
        default=SHARE_FORCE_SALTING_DEFAULT,
        choices=[
            (0, "0: share across all VMs (before ESXi 6.0)"),
            (1, "1: share among VMs with the same sched.mem.pshare.salt"),
            (2, "2: share only inside each VM unless salts match (default)"),
        ],
    )
    seed = models.PositiveIntegerField(default=0, help_text="Seed of the simulation's randomness.")
    config_version = models.PositiveIntegerField(default=1, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def advanced_settings(self) -> dict:
        return {
            "Mem.ShareScanTime": self.share_scan_time,
            "Mem.ShareScanGHz": self.share_scan_ghz,
            "Mem.ShareRateMax": self.share_rate_max,
            "Mem.ShareForceSalting": self.share_force_salting,
        }

    def bump_config_version(self) -> None:
        Host.objects.filter(pk=self.pk).update(config_version=F("config_version") + 1)


# The engine's presets (hostsim.engine); a test checks the two lists agree.
GUEST_OS_CHOICES = [("linux", "Linux"), ("windows", "Windows")]
WORKLOAD_CHOICES = [
    ("idle", "Idle"),
    ("webserver", "Web server"),
    ("database", "Database"),
    ("batch", "Batch"),
    ("toucher", "Toucher (does only what you ask)"),
]
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
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[name_validator])
    memory_mb = models.PositiveIntegerField("Memory (MB)", default=2048, validators=_range(4, 6 * 1024 * 1024))
    vcpus = models.PositiveSmallIntegerField("vCPUs", default=2, validators=_range(1, 768))
    guest_os = models.CharField(
        "Guest OS", max_length=16, choices=GUEST_OS_CHOICES, default="linux"
    )
    workload = models.CharField(
        max_length=16, choices=WORKLOAD_CHOICES, default="idle"
    )
    mmu_mode = models.CharField(
        "CPU/MMU virtualization",
        max_length=16,
        choices=MMU_MODE_CHOICES,
        default="automatic",
    )
    pshare_enabled = models.BooleanField("sched.mem.pshare.enable", default=True)
    pshare_salt = models.CharField("sched.mem.pshare.salt", max_length=64, blank=True, default="")
    power_state = models.CharField(
        max_length=12, choices=PowerState.choices, default=PowerState.POWERED_OFF, editable=False
    )
    config_version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="unique_vm_name_per_host")]
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

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="guest_operations")
    action = models.CharField(max_length=8, choices=Action.choices)
    amount = models.FloatField(help_text="MB for allocate and free; a fraction 0..1 for write.")
    requested_by = models.CharField(max_length=150, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="Simulated time it took effect.")
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["vm", "applied_at"])]

    def __str__(self) -> str:
        return f"{self.vm} {self.action} {self.amount:g}"


class EntityKind(models.TextChoices):
    HOST = "host", "Host"
    POOL = "pool", "Resource pool"
    VM = "vm", "Virtual machine"


# vCenter's statistics intervals: sample period in seconds -> how long it is kept (seconds).
# vSphere Monitoring and Performance, "Data Collection Intervals"; real-time is ESXi's own hour.
REALTIME_INTERVAL = 20
INTERVAL_RETENTION = {
    20: 3600,  # real-time: 1 hour
    300: 86400,  # past day: 5-minute averages
    1800: 7 * 86400,  # past week: 30-minute averages
    7200: 30 * 86400,  # past month: 2-hour averages
    86400: 365 * 86400,  # past year: daily averages
}
INTERVALS = tuple(INTERVAL_RETENTION)


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

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_kind", "entity_id", "interval", "ts"], name="unique_sample_per_time"
            )
        ]
        indexes = [models.Index(fields=["host", "interval", "ts"])]

    def __str__(self) -> str:
        return f"{self.entity_kind} {self.entity_id} @ {self.ts:%Y-%m-%d %H:%M:%S} ({self.interval} s)"


class Checkpoint(models.Model):
    """The latest engine snapshot of a host, so a new worker resumes where the last one stopped."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="checkpoint")
    clock = models.DateTimeField(help_text="Simulated time of the last sample the snapshot includes.")
    engine_state = models.BinaryField()
    vm_map = models.JSONField(help_text="Database VM id -> engine VM id and applied config versions.")
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
    reached = models.DateTimeField(null=True, blank=True, help_text="Simulated time reached so far.")
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
        return f"fast-forward of {self.host} ({self.state}, {self.ticks_done}/{self.ticks_total} ticks)"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def progress(self) -> float:
        return self.ticks_done / self.ticks_total if self.ticks_total else 1.0
