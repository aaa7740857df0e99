"""Guest OS and workload presets: what runs inside a VM, and how hard it pushes memory and the MMU.

Guest OS presets are by version (`rhel9`, `ubuntu2204`, `win2019`, `win2022`); `linux` and
`windows` are aliases of `rhel9` and `win2019` under their old names (existing VMs, snapshots and
API callers use them): the same installed software, so an alias shares with its version exactly
as two VMs of that version do. Each version has its own catalogues (content.py): kernel code,
kernel data as it is at boot, system libraries, the other installed files, and a few pages that
repeat inside a VM (page-table pages with the same entries, poisoned slab pages, buffers filled
with one byte). So VMs of the same version share a lot, different versions almost nothing but
zero pages. Kernel code and libraries are read-only for the guest's lifetime; kernel data and the
page cache are rewritten at their own rates. The page cache read after boot holds the workload's
files as built for that OS version, so VMs running different software cache different files.

Workload sizes and rates follow the VM's memory. A process's own sizes (an application's
binaries, a worker's private memory) are what the software needs but at most
`PROCESS_MAX_FRACTION` of the VM, so a 40 MB VM does not load a 48 MB application; data areas are
fractions of the VM; the rates at which data is touched and rewritten are given for a VM of
`REFERENCE_VM_MB` and a smaller VM runs proportionally less (`scale_for`), so a small VM does not
rewrite its working set every few seconds. Rates marked "per vCPU" also scale with the VM's vCPU
count: a workload with more vCPUs does more work.

Every preset says where its numbers come from: a source where one is named, else "our choice",
tuned to make each preset's
behaviour visible in the counters within minutes of simulated time, and the sharing ones against
the published results `manage.py bench sharing` prints (Waldspurger 2002, Fig. 4; vSphere 4.1
Resource Management guide, "Memory Sharing"). What drives the MMU model (`mmu`) is behaviour, not
cost: how often processes fork and exit, how often the guest switches between processes, how many
memory references scatter over the working set; the page-table updates and the working set
themselves come out of the simulated processes. Calibrated against the VMware EPT white paper
(see `mmu`).
"""

from dataclasses import dataclass, replace

from hostsim.engine.content import Catalogue, ContentMix
from hostsim.engine.machine import mb_to_pages

LINUX_FAMILY, WINDOWS_FAMILY = "linux", "windows"
# Workload sizes and rates are those of a 2 GB VM, the lab's default VM size; smaller VMs scale
# them down, larger ones keep them (their vCPUs, not their memory, bound how fast they work).
REFERENCE_VM_MB = 2048
PROCESS_MAX_FRACTION = 0.2  # our choice: binaries fill at most a fifth of a small VM
PATTERN_PAGES = 64  # distinct repeated pages per OS version (our choice: a handful of kinds)


@dataclass(frozen=True)
class GuestOSPreset:
    name: str
    label: str
    family: str  # LINUX_FAMILY or WINDOWS_FAMILY
    image: str  # the installed build; catalogues are named after it (aliases share it)
    boot_seconds: float
    kernel_mb: float  # kernel code and data touched at boot ...
    kernel_max_fraction: float  # ... but never more than this share of guest memory
    kernel_code_fraction: float  # the read-only part: text, rodata, loaded modules
    kernel_zero_fraction: float  # zero-filled kernel data pages (bss, zeroed allocations)
    kernel_pattern_fraction: float  # kernel data pages holding one of the repeated patterns
    kernel_data_churn_per_min: float  # share of kernel data rewritten per minute
    libraries_mb: float  # system libraries read into the page cache at boot, read-only ...
    libraries_max_fraction: float  # ... up to this share of guest memory
    files_mb: float  # the rest of the installed OS (size of its file catalogue)
    boot_cache_mb: float  # other files read while booting ...
    boot_cache_max_fraction: float
    cache_growth_mb_per_s: float  # per vCPU: files read after boot grow the page cache ...
    cache_max_fraction: float  # ... up to this share of guest memory
    cache_churn_per_min: float  # share of the page cache (libraries aside) replaced per minute
    cache_private_fraction: float  # files read after boot that are the VM's own (logs, data)
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

    def _catalogue(self, part: str, mb: float) -> Catalogue:
        return Catalogue(f"{self.image}:{part}", max(1, mb_to_pages(mb)))

    @property
    def kernel_code(self) -> Catalogue:
        return self._catalogue("kernel-code", self.kernel_mb * self.kernel_code_fraction)

    @property
    def kernel_data(self) -> Catalogue:
        return self._catalogue("kernel-data", self.kernel_mb * (1 - self.kernel_code_fraction))

    @property
    def libraries(self) -> Catalogue:
        return self._catalogue("libraries", self.libraries_mb)

    @property
    def files(self) -> Catalogue:
        return self._catalogue("files", self.files_mb)

    @property
    def patterns(self) -> Catalogue:
        return Catalogue(f"{self.image}:patterns", PATTERN_PAGES)


@dataclass(frozen=True)
class WorkloadPreset:
    name: str
    label: str
    description: str
    application_image_mb: float  # loaded when the workload starts (binaries, libraries); 0: none
    inputs_mb: float  # data it reads in order into its memory (inputs, documents, reference data)
    files_mb: float  # files it reads through the page cache (size of its file catalogue)
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

    def image_for(self, os: GuestOSPreset, memory_pages: int) -> Catalogue | None:
        """The application's binaries as built for `os`, as much as a VM of `memory_pages` loads."""
        if not self.application_image_mb:
            return None
        pages = process_pages(self.application_image_mb, memory_pages)
        return Catalogue(f"{os.image}:{self.name}:image", pages)

    def inputs_for(self, os: GuestOSPreset, scale: float) -> Catalogue | None:
        """The data it streams through its memory on `os`, for a VM of this `scale`."""
        if not self.inputs_mb:
            return None
        pages = max(1, mb_to_pages(self.inputs_mb * scale))
        return Catalogue(f"{os.image}:{self.name}:inputs", pages)

    def files_for(self, os: GuestOSPreset) -> Catalogue:
        """The files it reads on `os` (the idle OS's own: logs rotated, man pages, updates)."""
        return Catalogue(f"{os.image}:{self.name}:files", max(1, mb_to_pages(self.files_mb)))


def scale_for(memory_pages: int) -> float:
    """How much of a workload's reference rates (and input data) a VM of `memory_pages` runs."""
    return min(1.0, memory_pages / mb_to_pages(REFERENCE_VM_MB))


def process_pages(mb: float, memory_pages: int) -> int:
    """A process's own size of `mb` in a VM of `memory_pages`: capped at PROCESS_MAX_FRACTION."""
    return max(1, min(mb_to_pages(mb), int(PROCESS_MAX_FRACTION * memory_pages)))


# Our choice unless a comment names a source: sizes of the order of a minimal server install,
# capped for small VMs; the churn rates of an idle server; the boot-time process activity as
# before versions existed (the old `linux` preset, calibrated with `mmu`).
RHEL9 = GuestOSPreset(
    name="rhel9",
    label="Red Hat Enterprise Linux 9",
    family=LINUX_FAMILY,
    image="rhel9",
    boot_seconds=30,
    # Our choice, of the order of /proc/meminfo on a minimal RHEL 9 guest (kernel image and
    # modules about half of it, slab and page tables the rest), capped for small VMs.
    kernel_mb=40,
    kernel_max_fraction=0.08,
    kernel_code_fraction=0.5,
    kernel_zero_fraction=0.15,
    kernel_pattern_fraction=0.10,
    kernel_data_churn_per_min=0.02,  # our choice: slab and buffers turn over slowly when idle
    libraries_mb=48,  # our choice: glibc, systemd, python and the daemons' libraries
    libraries_max_fraction=0.10,
    files_mb=2048,  # our choice: a server install, about 2 GB on disk
    boot_cache_mb=64,
    boot_cache_max_fraction=0.10,
    cache_growth_mb_per_s=0.05,
    cache_max_fraction=0.25,
    cache_churn_per_min=0.01,  # our choice: a server rereads mostly the same files
    cache_private_fraction=0.3,  # our choice: logs and the VM's own data
    zeroes_memory_at_boot=False,  # Linux touches memory lazily, on first use
    kernel_touch_per_min=0.3,
    cache_touch_per_min=0.05,
    boot_forks_per_s=10,
    boot_process_mb=4,
    boot_context_switches_per_s=1_000,
    boot_scattered_refs_per_s=60_000,
)

# RHEL 9's numbers but its own catalogues (another distribution: other builds of everything).
UBUNTU2204 = replace(
    RHEL9,
    name="ubuntu2204",
    label="Ubuntu Server 22.04 LTS",
    image="ubuntu2204",
    boot_seconds=25,  # our choice: fewer services enabled by default than RHEL
    kernel_mb=44,  # our choice: a generic kernel with more modules loaded
    libraries_mb=56,  # our choice: snapd and cloud-init add libraries
    files_mb=2560,
    boot_cache_mb=72,
)

# Our choice unless a comment names a source, as the old `windows` preset: a larger kernel and
# libraries than Linux, all memory zeroed at boot.
WIN2019 = GuestOSPreset(
    name="win2019",
    label="Windows Server 2019",
    family=WINDOWS_FAMILY,
    image="win2019",
    boot_seconds=60,
    kernel_mb=150,  # our choice: kernel, HAL, drivers and the paged and non-paged pools
    kernel_max_fraction=0.15,
    kernel_code_fraction=0.4,
    kernel_zero_fraction=0.10,
    kernel_pattern_fraction=0.10,
    kernel_data_churn_per_min=0.02,
    libraries_mb=96,  # our choice: the DLLs of the services running at boot
    libraries_max_fraction=0.10,
    files_mb=8192,  # our choice: a Server Core install is about 8 GB on disk
    boot_cache_mb=128,  # SuperFetch preloads the standby list
    boot_cache_max_fraction=0.12,
    cache_growth_mb_per_s=0.05,
    cache_max_fraction=0.30,
    cache_churn_per_min=0.01,
    cache_private_fraction=0.3,
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

# Windows Server 2019's numbers but its own catalogues (a newer build of every file).
WIN2022 = replace(
    WIN2019,
    name="win2022",
    label="Windows Server 2022",
    image="win2022",
    kernel_mb=160,  # our choice: a newer kernel with more drivers
    libraries_mb=104,
    files_mb=9216,
)

# The old names, kept for existing VMs, snapshots and API callers: the same software as the
# version they stand for.
LINUX = replace(RHEL9, name="linux", label="Linux (Red Hat Enterprise Linux 9)")
WINDOWS = replace(WIN2019, name="windows", label="Windows (Windows Server 2019)")

GUEST_OS_PRESETS: dict[str, GuestOSPreset] = {
    preset.name: preset for preset in (LINUX, WINDOWS, RHEL9, UBUNTU2204, WIN2019, WIN2022)
}

# Context switches happen 100 to 1000 times per second in a typical guest and each traps under a
# software MMU (vSphere Resource Management, "Performance Considerations" of memory virtualization).
_QUIET_CONTEXT_SWITCHES_PER_S = 100
_QUIET_SCATTERED_REFS_PER_S = 6_000

# Workloads: our choice unless a comment names a source, for a VM of REFERENCE_VM_MB; the MMU
# behaviour (context switches, scattered references, forks) calibrated with `mmu`; the content
# mixes against `manage.py bench sharing` (few zero pages in a busy server's memory).
IDLE = WorkloadPreset(
    name="idle",
    label="Idle",
    description="Only the OS: timers, logging, a few daemons.",
    application_image_mb=0,
    inputs_mb=0,
    files_mb=64,  # our choice: logs, timers' and daemons' files
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    # Kernel data the OS rewrites (timers, logging); never its code (kernel code is read-only).
    write_pages_per_s=1,
    content=ContentMix(zero=0.1, os_image=0.0, application=0.0, unique=0.9),
    context_switches_per_s=_QUIET_CONTEXT_SWITCHES_PER_S,
    scattered_refs_per_s=_QUIET_SCATTERED_REFS_PER_S,
    touch_per_min=0.0,
)

WEBSERVER = WorkloadPreset(
    name="webserver",
    label="Web server",
    description="Many short-lived worker processes: heavy page-table update activity.",
    application_image_mb=48,
    inputs_mb=4096,  # our choice: the site's generated pages and objects, more than it caches
    files_mb=1024,  # our choice: the site's documents
    resident_fraction=0.30,
    ramp_mb_per_s=8,
    write_pages_per_s=150,
    # Few zero pages: a busy server reuses its memory (our choice, so that a diverse mix saves
    # under 5%, vSphere 4.1 Resource Management, "Memory Sharing").
    content=ContentMix(zero=0.04, os_image=0.15, application=0.15, unique=0.65, pattern=0.01),
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
    label="Database",
    description="A large buffer pool read at random: many TLB misses, few page-table updates.",
    application_image_mb=96,
    inputs_mb=4096,  # our choice: rows loaded from the tables' files
    files_mb=4096,  # our choice: the tables' files, read through the cache too
    resident_fraction=0.60,
    ramp_mb_per_s=16,
    write_pages_per_s=300,
    content=ContentMix(zero=0.02, os_image=0.0, application=0.02, unique=0.95, pattern=0.01),
    context_switches_per_s=500,
    scattered_refs_per_s=470_000,
    touch_per_min=0.5,
    process="postgres",
    data_area="buffer pool",
)

BATCH = WorkloadPreset(
    name="batch",
    label="Batch",
    description="Allocates a large working set, computes over it, frees it, and starts again.",
    application_image_mb=12,
    inputs_mb=4096,  # our choice: the job's input records
    files_mb=256,  # our choice: the job's inputs
    resident_fraction=0.45,
    ramp_mb_per_s=64,
    write_pages_per_s=2_000,
    content=ContentMix(zero=0.04, os_image=0.0, application=0.02, unique=0.93, pattern=0.01),
    context_switches_per_s=200,
    scattered_refs_per_s=320_000,
    touch_per_min=0.9,
    process="batch",
    data_area="work area",
    compute_passes=3,
)

# SPEC CPU95's benchmarks run one after another, each reading its inputs and computing over a
# working set a few times the size of its binary (Waldspurger 2002, Fig. 4: ten such Linux VMs of
# 40 MB share 67% of their memory). Sizes for a 2 GB VM, scaled down like every workload: our
# choice, calibrated by `manage.py bench sharing` against the paper's one-VM figures (5 MB
# reclaimed, 55% of it zero pages) and its curve.
SPEC = WorkloadPreset(
    name="spec",
    label="SPEC CPU-like benchmarks",
    description="SPEC CPU-like benchmarks: read inputs, compute over a modest working set, repeat.",
    application_image_mb=2,  # our choice: SPEC CPU95's binaries are small
    inputs_mb=8192,  # inputs and reference data, streamed through the working set
    files_mb=512,
    resident_fraction=0.60,
    ramp_mb_per_s=16,
    write_pages_per_s=200,  # a pass over the working set takes about 25 minutes
    content=ContentMix(zero=0.11, os_image=0.0, application=0.59, unique=0.20, pattern=0.10),
    context_switches_per_s=_QUIET_CONTEXT_SWITCHES_PER_S,
    scattered_refs_per_s=200_000,
    touch_per_min=0.9,
    process="spec",
    data_area="work area",
    compute_passes=3,
)

TOUCHER = WorkloadPreset(
    name="toucher",
    label="Toucher (does only what you ask)",
    description=(
        "Does only what guest_allocate / guest_free / guest_write ask (the paper's toucher)."
    ),
    application_image_mb=0,
    inputs_mb=0,
    files_mb=64,
    resident_fraction=0.0,
    ramp_mb_per_s=0.0,
    write_pages_per_s=0,
    content=ContentMix(zero=0.0, os_image=0.0, application=0.0, unique=1.0),
    context_switches_per_s=_QUIET_CONTEXT_SWITCHES_PER_S,
    scattered_refs_per_s=_QUIET_SCATTERED_REFS_PER_S,
    touch_per_min=0.0,
)

WORKLOAD_PRESETS: dict[str, WorkloadPreset] = {
    preset.name: preset for preset in (IDLE, WEBSERVER, DATABASE, BATCH, SPEC, TOUCHER)
}
