"""Guest OS and workload presets: what runs inside a VM, and how hard it pushes memory and the MMU.

Rates marked "per vCPU" scale with the VM's vCPU count: a workload with more vCPUs does more work.
Numbers are "our choice" unless a source is given; they are tuned to make each preset's behaviour
visible in the counters within minutes of simulated time, and the MMU rates are calibrated against
the VMware EPT white paper (see `mmu`).
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
    boot_pt_updates_per_s: float  # per vCPU, while booting: many short-lived processes
    boot_tlb_misses_per_s: float


@dataclass(frozen=True)
class WorkloadPreset:
    name: str
    description: str
    application: Catalogue | None  # the application's image; None for none
    application_image_mb: float  # loaded when the workload starts (binaries, libraries)
    resident_fraction: float  # memory the workload's processes hold at steady state
    ramp_mb_per_s: float  # per vCPU: how fast it allocates up to that
    turnover_per_s: (
        float  # per vCPU: share of its memory freed by exiting processes and reallocated
    )
    write_pages_per_s: float  # per vCPU: pages of its memory rewritten per second
    content: ContentMix  # what it writes
    pt_updates_per_s: float  # per vCPU: guest page-table updates (process creation, mmap, exits)
    tlb_misses_per_s: float  # per vCPU
    touch_per_min: float  # share of its memory touched per minute (active memory)
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
    boot_pt_updates_per_s=20_000,
    boot_tlb_misses_per_s=50_000,
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
    boot_pt_updates_per_s=20_000,
    boot_tlb_misses_per_s=60_000,
)

GUEST_OS_PRESETS: dict[str, GuestOSPreset] = {preset.name: preset for preset in (LINUX, WINDOWS)}

# Context switches happen 100 to 1000 times per second in a typical guest and each traps under a
# software MMU (vSphere Resource Management, "Performance Considerations" of memory virtualization).
_QUIET_PT_UPDATES_PER_S = 300
_QUIET_TLB_MISSES_PER_S = 5_000

IDLE = WorkloadPreset(
    name="idle",
    description="Only the OS: timers, logging, a few daemons.",
    application=None,
    application_image_mb=0,
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    turnover_per_s=0.0,
    write_pages_per_s=1,
    content=ContentMix(zero=0.1, os_image=0.0, application=0.0, unique=0.9),
    pt_updates_per_s=_QUIET_PT_UPDATES_PER_S,
    tlb_misses_per_s=_QUIET_TLB_MISSES_PER_S,
    touch_per_min=0.0,
)

WEBSERVER = WorkloadPreset(
    name="webserver",
    description="Many short-lived worker processes: heavy page-table update activity.",
    application=Catalogue("app:webserver", 16_384),  # 64 MB
    application_image_mb=48,
    resident_fraction=0.30,
    ramp_mb_per_s=8,
    turnover_per_s=0.002,
    write_pages_per_s=150,
    content=ContentMix(zero=0.25, os_image=0.15, application=0.15, unique=0.45),
    pt_updates_per_s=86_000,
    tlb_misses_per_s=150_000,
    touch_per_min=0.6,
)

DATABASE = WorkloadPreset(
    name="database",
    description="A large buffer pool read at random: many TLB misses, few page-table updates.",
    application=Catalogue("app:database", 32_768),  # 128 MB
    application_image_mb=96,
    resident_fraction=0.60,
    ramp_mb_per_s=16,
    turnover_per_s=0.0,
    write_pages_per_s=300,
    content=ContentMix(zero=0.05, os_image=0.0, application=0.02, unique=0.93),
    pt_updates_per_s=1_000,
    tlb_misses_per_s=450_000,
    touch_per_min=0.5,
)

BATCH = WorkloadPreset(
    name="batch",
    description="Allocates a large working set, computes over it, frees it, and starts again.",
    application=Catalogue("app:batch", 4_096),  # 16 MB
    application_image_mb=12,
    resident_fraction=0.45,
    ramp_mb_per_s=64,
    turnover_per_s=0.0,
    write_pages_per_s=2_000,
    content=ContentMix(zero=0.20, os_image=0.0, application=0.02, unique=0.78),
    pt_updates_per_s=4_000,
    tlb_misses_per_s=300_000,
    touch_per_min=0.9,
    compute_passes=3,
)

TOUCHER = WorkloadPreset(
    name="toucher",
    description="Does only what guest_allocate / guest_free / guest_write ask (the paper's toucher).",
    application=None,
    application_image_mb=0,
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    turnover_per_s=0.0,
    write_pages_per_s=0,
    content=ContentMix(zero=0.0, os_image=0.0, application=0.0, unique=1.0),
    pt_updates_per_s=_QUIET_PT_UPDATES_PER_S,
    tlb_misses_per_s=_QUIET_TLB_MISSES_PER_S,
    touch_per_min=0.0,
)

WORKLOAD_PRESETS: dict[str, WorkloadPreset] = {
    preset.name: preset for preset in (IDLE, WEBSERVER, DATABASE, BATCH, TOUCHER)
}
