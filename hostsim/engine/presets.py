"""Guest OS and workload presets: what runs inside a VM, and how hard it pushes memory and the MMU.

Rates marked "per vCPU" scale with the VM's vCPU count: a workload with more vCPUs does more work.
Numbers are "our choice" unless a source is given; they are tuned to make each preset's behaviour
visible in the counters within minutes of simulated time. What drives the MMU model (`mmu`) is
behaviour, not cost: how often processes fork and exit, how often the guest switches between
processes, how many memory references scatter over the working set; the page-table updates and
the working set themselves come out of the simulated processes. Calibrated against the VMware EPT
white paper (see `mmu`).
"""

from dataclasses import dataclass

from hostsim.engine.content import Catalogue, ContentMix


@dataclass(frozen=True)
class GuestOSPreset:
    name: str
    image: Catalogue  # kernel, libraries and files of the installed OS, the same in every VM
    boot_seconds: float
    kernel_mb: float  # kernel code and data touched at boot ...
    kernel_max_fraction: float  # ... but never more than this share of guest memory
    kernel_zero_fraction: float  # zero-filled kernel pages (bss, zeroed allocations)
    boot_cache_mb: float  # page cache filled while booting ...
    boot_cache_max_fraction: float
    cache_growth_mb_per_s: float  # per vCPU: files read after boot grow the page cache ...
    cache_max_fraction: float  # ... up to this share of guest memory
    zeroes_memory_at_boot: bool  # writes zeros to every physical page while booting
    kernel_touch_per_min: float  # share of kernel pages touched per minute (active memory)
    cache_touch_per_min: float
    # While booting, per vCPU: init scripts fork many short-lived processes (counted, not
    # simulated page by page: each maps and unmaps `boot_process_mb`), switch often, and scatter
    # references over what is resident.
    boot_forks_per_s: float
    boot_process_mb: float
    boot_context_switches_per_s: float
    boot_scattered_refs_per_s: float


@dataclass(frozen=True)
class WorkloadPreset:
    name: str
    description: str
    application: Catalogue | None  # the application's image; None for none
    application_image_mb: float  # loaded when the workload starts (binaries, libraries)
    resident_fraction: float  # memory the workload's processes hold at steady state
    ramp_mb_per_s: float  # per vCPU: how fast it touches its data area up to that
    write_pages_per_s: float  # per vCPU: pages of its memory rewritten per second
    content: ContentMix  # what it writes
    context_switches_per_s: float  # per vCPU: switches between processes (a CR3 write each)
    scattered_refs_per_s: float  # per vCPU: references spread over the whole working set
    touch_per_min: float  # share of its memory touched per minute (active memory)
    process: str | None = None  # its main process (None: nothing but the OS runs)
    data_area: str = "heap"  # the main process's data area, reserved at start, touched as used
    # Short-lived worker processes forked by the main one (web server), per vCPU: how many live
    # at a time, the private memory each touches, and how often one exits and another forks.
    workers_per_vcpu: int = 0
    worker_mb: float = 0.0
    forks_per_s: float = 0.0
    # Batch: rewrite the working set this often, free it, repeat
    compute_passes: float | None = None


LINUX = GuestOSPreset(
    name="linux",
    image=Catalogue("os:linux", 65_536),  # 256 MB
    boot_seconds=30,
    kernel_mb=40,
    kernel_max_fraction=0.08,
    kernel_zero_fraction=0.15,
    boot_cache_mb=64,
    boot_cache_max_fraction=0.10,
    cache_growth_mb_per_s=0.05,
    cache_max_fraction=0.25,
    zeroes_memory_at_boot=False,  # Linux touches memory lazily, on first use
    kernel_touch_per_min=0.3,
    cache_touch_per_min=0.05,
    boot_forks_per_s=10,
    boot_process_mb=4,
    boot_context_switches_per_s=1_000,
    boot_scattered_refs_per_s=60_000,
)

WINDOWS = GuestOSPreset(
    name="windows",
    image=Catalogue("os:windows", 131_072),  # 512 MB
    boot_seconds=60,
    kernel_mb=150,
    kernel_max_fraction=0.15,
    kernel_zero_fraction=0.10,
    boot_cache_mb=128,  # SuperFetch preloads the standby list
    boot_cache_max_fraction=0.12,
    cache_growth_mb_per_s=0.05,
    cache_max_fraction=0.30,
    # Windows zeroes all physical memory while booting, so the whole VM is granted at once and
    # mostly holds zero pages, which page sharing then collapses (DESIGN.md 4).
    zeroes_memory_at_boot=True,
    kernel_touch_per_min=0.3,
    cache_touch_per_min=0.05,
    boot_forks_per_s=10,
    boot_process_mb=4,
    boot_context_switches_per_s=1_000,
    boot_scattered_refs_per_s=70_000,
)

GUEST_OS_PRESETS: dict[str, GuestOSPreset] = {preset.name: preset for preset in (LINUX, WINDOWS)}

# Context switches happen 100 to 1000 times per second in a typical guest and each traps under a
# software MMU (vSphere Resource Management, "Performance Considerations" of memory virtualization).
_QUIET_CONTEXT_SWITCHES_PER_S = 100
_QUIET_SCATTERED_REFS_PER_S = 6_000

IDLE = WorkloadPreset(
    name="idle",
    description="Only the OS: timers, logging, a few daemons.",
    application=None,
    application_image_mb=0,
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    write_pages_per_s=1,
    content=ContentMix(zero=0.1, os_image=0.0, application=0.0, unique=0.9),
    context_switches_per_s=_QUIET_CONTEXT_SWITCHES_PER_S,
    scattered_refs_per_s=_QUIET_SCATTERED_REFS_PER_S,
    touch_per_min=0.0,
)

WEBSERVER = WorkloadPreset(
    name="webserver",
    description="Many short-lived worker processes: heavy page-table update activity.",
    application=Catalogue("app:webserver", 16_384),  # 64 MB
    application_image_mb=48,
    resident_fraction=0.30,
    ramp_mb_per_s=8,
    write_pages_per_s=150,
    content=ContentMix(zero=0.25, os_image=0.15, application=0.15, unique=0.45),
    context_switches_per_s=2_000,
    scattered_refs_per_s=160_000,
    touch_per_min=0.6,
    process="httpd",
    data_area="cache",
    workers_per_vcpu=2,
    worker_mb=2,
    forks_per_s=3.3,  # prefork workers that serve a few requests each (MaxRequestsPerChild)
)

DATABASE = WorkloadPreset(
    name="database",
    description="A large buffer pool read at random: many TLB misses, few page-table updates.",
    application=Catalogue("app:database", 32_768),  # 128 MB
    application_image_mb=96,
    resident_fraction=0.60,
    ramp_mb_per_s=16,
    write_pages_per_s=300,
    content=ContentMix(zero=0.05, os_image=0.0, application=0.02, unique=0.93),
    context_switches_per_s=500,
    scattered_refs_per_s=470_000,
    touch_per_min=0.5,
    process="postgres",
    data_area="buffer pool",
)

BATCH = WorkloadPreset(
    name="batch",
    description="Allocates a large working set, computes over it, frees it, and starts again.",
    application=Catalogue("app:batch", 4_096),  # 16 MB
    application_image_mb=12,
    resident_fraction=0.45,
    ramp_mb_per_s=64,
    write_pages_per_s=2_000,
    content=ContentMix(zero=0.20, os_image=0.0, application=0.02, unique=0.78),
    context_switches_per_s=200,
    scattered_refs_per_s=320_000,
    touch_per_min=0.9,
    process="batch",
    data_area="work area",
    compute_passes=3,
)

TOUCHER = WorkloadPreset(
    name="toucher",
    description="Does only what guest_allocate / guest_free / guest_write ask (the paper's toucher).",
    application=None,
    application_image_mb=0,
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    write_pages_per_s=0,
    content=ContentMix(zero=0.0, os_image=0.0, application=0.0, unique=1.0),
    context_switches_per_s=_QUIET_CONTEXT_SWITCHES_PER_S,
    scattered_refs_per_s=_QUIET_SCATTERED_REFS_PER_S,
    touch_per_min=0.0,
)

WORKLOAD_PRESETS: dict[str, WorkloadPreset] = {
    preset.name: preset for preset in (IDLE, WEBSERVER, DATABASE, BATCH, TOUCHER)
}
