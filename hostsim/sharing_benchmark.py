"""The sharing calibration behind `manage.py bench sharing` (issue 13); plain Python and numpy.

Measures page sharing against the published results and prints them side by side:

  fig4    Waldspurger, "Memory Resource Management in VMware ESX Server", OSDI 2002, Fig. 4:
          1 to 10 identical Red Hat Linux VMs of 40 MB running SPEC95 (here `rhel9` running the
          `spec` workload). Per count: % of VM memory shared and reclaimed; for one VM: MB
          reclaimed and the share of it that is zero pages.
  guide   vSphere 4.1 Resource Management guide, "Memory Sharing": "A workload of many nearly
          identical virtual machines might free up more than thirty percent of memory, while a
          more diverse workload might result in savings of less than five percent of memory."
          `identical`: 8 VMs of the same OS version running the same web server; `diverse`: one
          VM per OS version, each running other software. Saved = reclaimed / granted.

Definitions as Waldspurger's: "shared" is guest memory mapped to a shared machine frame
(mem.shared, zero pages included); "reclaimed" (saved) is shared minus the machine frames that
back it (mem.shared - mem.sharedcommon). The paper's text gives its curve's ends only: sharing
approaches 67% and reclaimed nearly 60% of VM memory at 10 VMs, and one VM reclaims about 5 MB,
about 55% of it zero pages. The points in between (`paper_*`) are reconstructed from those four
numbers by the simplest model that fits them: each VM holds C MB identical to every other VM's and
S MB it shares inside itself, backed by F MB of frames, so shared = C + S for two VMs or more and
reclaimed(n) = (n C + n (S - F) - C) / (40 n); S - F = 5 MB, C + S = 67% of 40 MB, reclaimed(10)
= 60% give C = 21.1 MB (our reconstruction: the figure's data are not published as numbers).

Every run is on a host with room for all its VMs (no memory pressure), salting 0 unless said,
with the scanner sped up through the advanced settings so that it converges within the run:
Mem.ShareScanTime at its minimum, 10 minutes, so each VM is scanned once per 10 simulated minutes
(the default, 60, would need six times as long). Runs: `software` (software MMU host, salting 0:
the published setting), `hardware` (hardware MMU, Mem.AllocGuestLargePage 1 where the engine has
the setting: large pages are not shared without memory pressure) and `salting2` (software MMU,
Mem.ShareForceSalting 2: sharing only inside each VM). The hardware and salting runs draw the
curve at 1, 2, 4 and 10 VMs only, to keep the benchmark near a minute of CPU; `--quick` is a
smoke run (1 and 2 VMs, two VMs per guide case, 5 minutes: not converged, not calibrated).
"""

import time

from hostsim.engine import ADVANCED_SETTINGS, HostSim, VMConfig

MB_KB = 1024
CONVERGE_S = 30 * 60  # simulated: boot, ramp-up, three full scans at Mem.ShareScanTime 10
QUICK_CONVERGE_S = 5 * 60
SCAN_TIME_MIN = 10  # Mem.ShareScanTime's minimum: the fastest the settings allow
HOST_CPU_MHZ = 2 * 8 * 2600  # enough Mem.ShareScanGHz budget that no VM is slowed down
LARGE_PAGES = "Mem.AllocGuestLargePage"

FIG4_VM_MB = 40
FIG4_OS, FIG4_WORKLOAD = "rhel9", "spec"
FIG4_COUNTS = tuple(range(1, 11))
FIG4_VARIANT_COUNTS = (1, 2, 4, 10)  # hardware MMU and salting 2: enough to show the shape
FIG4_TARGET_COUNTS = range(4, 11)
FIG4_TARGET_PP = 10  # within 10 percentage points of the paper's curve
QUICK_COUNTS = (1, 2)

PAPER_SHARED_PCT = 67.0  # "sharing approaches 67%"
PAPER_RECLAIMED_PCT_10 = 60.0  # "nearly 60% of all VM memory is reclaimed"
PAPER_ONE_VM_RECLAIMED_MB = 5.0
PAPER_ONE_VM_ZERO_PCT = 55.0
# The reconstruction (module docstring): C MB identical across VMs, from reclaimed(10) =
# C + 5 MB - C / 10.
_IDENTICAL_MB = (PAPER_RECLAIMED_PCT_10 / 100 * FIG4_VM_MB - PAPER_ONE_VM_RECLAIMED_MB) / 0.9


def paper_fig4(vms: int) -> dict:
    """The paper's curve at `vms` VMs: shared (None for one VM: not published) and reclaimed, %."""
    reclaimed_mb = _IDENTICAL_MB + PAPER_ONE_VM_RECLAIMED_MB - _IDENTICAL_MB / vms
    return {
        "paper_shared_pct": PAPER_SHARED_PCT if vms > 1 else None,
        "paper_reclaimed_pct": round(100 * reclaimed_mb / FIG4_VM_MB, 1),
    }


GUIDE_VM_MB = 1024
GUIDE_IDENTICAL = tuple(("rhel9", "webserver") for _ in range(8))
# One VM per OS version, each running something else, and servers sized to their load, so that
# little of any VM is free (an idle Windows VM's zeroed memory is zero pages, which any mix would
# share). Two VMs of one version share kernel code, libraries and boot files: in our runs 8 VMs
# of the 4 versions, two each, saved about 18% (not a diverse mix in the guide's sense).
GUIDE_DIVERSE = (
    ("rhel9", "webserver"),
    ("ubuntu2204", "batch"),
    ("win2019", "database"),
    ("win2022", "database"),
)
QUICK_GUIDE_VMS = 2
GUIDE_IDENTICAL_MIN_PCT = 30.0
GUIDE_DIVERSE_MAX_PCT = 5.0


def _host(run: str, total_vm_mb: int) -> tuple[HostSim, str]:
    """A host for `run` with room for `total_vm_mb` of VMs, and the VMs' MMU mode."""
    settings = {"Mem.ShareScanTime": SCAN_TIME_MIN, "Mem.ShareForceSalting": 0}
    hardware = run == "hardware"
    if run == "salting2":
        settings["Mem.ShareForceSalting"] = 2
    if hardware and LARGE_PAGES in ADVANCED_SETTINGS:
        settings[LARGE_PAGES] = 1
    # Twice the VMs' memory and 1 GB more: free memory stays in the high state, no reclamation.
    memory_mb = 2 * total_vm_mb + 1024
    sim = HostSim(memory_mb, HOST_CPU_MHZ, hardware_mmu=hardware, settings=settings, seed=13)
    return sim, "hardware" if hardware else "software"


def _run(run: str, vms: tuple[tuple[str, str], ...], vm_mb: int, converge_s: int) -> dict:
    """Power on `vms` ((guest OS, workload) each), let the scanner converge, read the counters."""
    sim, mode = _host(run, vm_mb * len(vms))
    for index, (guest_os, workload) in enumerate(vms):
        vm = sim.add_vm(VMConfig(f"vm-{index + 1}", vm_mb, 1, guest_os, workload, mmu=mode))
        sim.power_on(vm)
    sim.step(converge_s)
    host = sim.host_counters()
    configured_kb = vm_mb * MB_KB * len(vms)
    reclaimed = host["mem.shared"] - host["mem.sharedcommon"]
    return {
        "shared_pct": round(100 * host["mem.shared"] / configured_kb, 1),
        "reclaimed_pct": round(100 * reclaimed / configured_kb, 1),
        "saved_of_granted_pct": round(100 * reclaimed / max(host["mem.granted"], 1), 1),
        "reclaimed_mb": round(reclaimed / MB_KB, 2),
        "zero_of_reclaimed_pct": round(100 * host["mem.zero"] / reclaimed, 1) if reclaimed else 0.0,
        "large_pages_mb": round(host.get("lab.largepages", 0) / MB_KB, 1),
    }


def _fig4(run: str, counts, converge_s: int) -> dict:
    curve = []
    for vms in counts:
        measured = _run(run, ((FIG4_OS, FIG4_WORKLOAD),) * vms, FIG4_VM_MB, converge_s)
        curve.append(
            {
                "vms": vms,
                "shared_pct": measured["shared_pct"],
                "reclaimed_pct": measured["reclaimed_pct"],
                **paper_fig4(vms),
            }
        )
        if vms == 1:
            one_vm = {
                "reclaimed_mb": measured["reclaimed_mb"],
                "paper_reclaimed_mb": PAPER_ONE_VM_RECLAIMED_MB,
                "zero_of_reclaimed_pct": measured["zero_of_reclaimed_pct"],
                "paper_zero_of_reclaimed_pct": PAPER_ONE_VM_ZERO_PCT,
            }
    return {"curve": curve, "one_vm": one_vm}


def _guide(run: str, vms_per_case: int, converge_s: int) -> dict:
    cases = {}
    for case, vms, published in (
        ("identical", GUIDE_IDENTICAL, f"more than {GUIDE_IDENTICAL_MIN_PCT:g}% saved"),
        ("diverse", GUIDE_DIVERSE, f"less than {GUIDE_DIVERSE_MAX_PCT:g}% saved"),
    ):
        measured = _run(run, vms[:vms_per_case], GUIDE_VM_MB, converge_s)
        cases[case] = {
            "vms": [f"{guest_os}/{workload}" for guest_os, workload in vms[:vms_per_case]],
            "saved_of_granted_pct": measured["saved_of_granted_pct"],
            "shared_pct": measured["shared_pct"],
            "published": published,
        }
    return cases


def _targets(software: dict) -> list[dict]:
    targets = []
    for point in software["fig4"]["curve"]:
        if point["vms"] not in FIG4_TARGET_COUNTS:
            continue
        for what in ("shared", "reclaimed"):
            gap = abs(point[f"{what}_pct"] - point[f"paper_{what}_pct"])
            targets.append(
                {
                    "target": f"fig4 {what} at {point['vms']} VMs within {FIG4_TARGET_PP} points",
                    "measured": point[f"{what}_pct"],
                    "paper": point[f"paper_{what}_pct"],
                    "met": gap <= FIG4_TARGET_PP,
                }
            )
    identical = software["guide"]["identical"]["saved_of_granted_pct"]
    diverse = software["guide"]["diverse"]["saved_of_granted_pct"]
    targets.append(
        {
            "target": f"identical VMs save more than {GUIDE_IDENTICAL_MIN_PCT:g}%",
            "measured": identical,
            "met": identical > GUIDE_IDENTICAL_MIN_PCT,
        }
    )
    targets.append(
        {
            "target": f"a diverse mix saves less than {GUIDE_DIVERSE_MAX_PCT:g}%",
            "measured": diverse,
            "met": diverse < GUIDE_DIVERSE_MAX_PCT,
        }
    )
    return targets


def run_sharing_benchmark(quick: bool = False) -> dict:
    """Every run's figures beside the published ones, and the targets (met or not)."""
    started = time.perf_counter()
    converge_s = QUICK_CONVERGE_S if quick else CONVERGE_S
    guide_vms = QUICK_GUIDE_VMS if quick else len(GUIDE_IDENTICAL)
    runs = {}
    for run in ("software", "hardware", "salting2"):
        counts = FIG4_COUNTS if run == "software" else FIG4_VARIANT_COUNTS
        if quick:
            counts = QUICK_COUNTS
        runs[run] = {
            "fig4": _fig4(run, counts, converge_s),
            "guide": _guide(run, guide_vms, converge_s),
        }
    return {
        "definitions": {
            "shared": "guest memory mapped to a shared machine frame, zero pages included "
            "(mem.shared), % of the VMs' configured memory",
            "reclaimed": "shared minus the machine frames backing it (mem.shared - "
            "mem.sharedcommon), % of configured memory (Waldspurger 2002, 4.3)",
            "saved_of_granted": "reclaimed / mem.granted, % (the 4.1 guide's 'savings')",
            "paper_curve": "the paper's end points (67% shared, ~60% reclaimed at 10 VMs; 5 MB "
            "reclaimed by one VM) joined by a two-parameter model: our reconstruction",
        },
        "settings": {
            "Mem.ShareScanTime": SCAN_TIME_MIN,
            "note": "scan time at its minimum (10 min instead of 60) so the scanner converges; "
            f"every run simulates {converge_s // 60} minutes before it is read",
            "large_pages": (
                f"{LARGE_PAGES} 1 on the hardware-MMU runs"
                if LARGE_PAGES in ADVANCED_SETTINGS
                else f"{LARGE_PAGES} is not in the engine: hardware MMU runs without large pages"
            ),
        },
        "runs": runs,
        "targets": _targets(runs["software"]),
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
    }
