"""The vSphere API benchmark (`manage.py bench sdk`): a pyVmomi client against a running lab.

Run from a process with the lab's settings (same database), against the lab's /sdk:
1. a throw-away host with 64 small powered-on VMs is made through pools.services; once the
   lab's worker has stored a tick of all of them, the hour before it is filled with real-time
   samples written as the runtime writes them, so a real-time query finds its 180 at once;
2. pyVmomi logs in (`SmartConnect`: service versions, RetrieveServiceContent, Login);
3. one RetrieveContents (PropertyCollector.RetrieveProperties) of name, summary.quickStats and
   runtime.powerState over a ContainerView of the host's VMs;
4. one QueryPerf (pyVmomi's QueryStats) of mem.granted.average, intervalId 20, maxSample 180, for
   the 64 VMs in one call.
Each step runs REPEATS times (a fresh login each time); the median is reported beside its target,
twice what govmomi's vcsim takes for the same client script on this machine. The client's own
XML parsing is part of every figure, as it is of vcsim's. The host goes afterwards.
"""

import statistics
import time
import urllib.parse
import uuid
from datetime import timedelta

VMS = 64
SAMPLES = 180  # an hour of real-time samples: maxSample of the query
HISTORY_EXTRA = 20  # samples older than that hour, which the worker's new ticks push it onto
LOCK_WAIT_S = 30.0  # for the worker to finish a tick of the host before it is deleted
WAIT_FOR_TICK_S = 60.0  # for the first tick with every VM: a few ticks at the lab's SIM_SPEED
REPEATS = 5
VM_MEMORY_MB = 128
# vcsim's figures for the same client script on this machine. Its Login checks no password hash;
# the lab's checks Django's (PBKDF2, 1,000,000 iterations: about 0.2 s here).
VCSIM_MS = {"login_ms": 18.0, "retrieve_contents_ms": 12.0, "query_perf_ms": 520.0}
TARGETS = {name: 2 * ms for name, ms in VCSIM_MS.items()}
PROPERTIES = ["name", "summary.quickStats", "runtime.powerState"]
GRANTED = ("mem", "granted", "average")  # the counter QueryPerf asks for


def _bench_host(count: int):
    """A host of `count` powered-on VMs, each with a full hour of real-time samples."""
    from hostsim.models import REALTIME_INTERVAL, Sample
    from pools import services

    host = services.create_host(
        name=f"bench-sdk-{uuid.uuid4().hex[:8]}", memory_mb=32768, cpu_mhz=40_000
    )
    vms = [
        services.power_on(
            services.create_vm(
                host, name=f"bench-sdk-vm-{index:02d}", memory_mb=VM_MEMORY_MB, workload="idle"
            )
        )
        for index in range(count)
    ]
    # The running lab's worker ticks the host; VMs powered on after its first ticks miss those,
    # so wait for a tick that has them all, then fill the hour before it (the rows the worker
    # already wrote stay as they are).
    samples = Sample.objects.filter(host=host, entity_kind="vm", interval=REALTIME_INTERVAL)
    deadline = time.monotonic() + WAIT_FOR_TICK_S
    while True:
        newest = samples.order_by("-ts").values_list("ts", flat=True).first()
        if newest is not None and samples.filter(ts=newest).count() == count:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the lab's worker stored no tick of all {count} VMs in {WAIT_FOR_TICK_S} s"
            )
        time.sleep(0.2)
    Sample.objects.bulk_create(
        (
            Sample(
                host=host,
                entity_kind="vm",
                entity_id=vm.pk,
                interval=REALTIME_INTERVAL,
                ts=newest - timedelta(seconds=REALTIME_INTERVAL * step),
                values={
                    "mem.granted": 1024 * (VM_MEMORY_MB // 2) + step,
                    "mem.consumed": 1024 * step,
                },
            )
            for vm in vms
            for step in range(SAMPLES + HISTORY_EXTRA)
        ),
        batch_size=5000,
        ignore_conflicts=True,
    )
    return host, vms


def _connect(url: str, username: str, password: str):
    from pyVim.connect import SmartConnect

    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    return SmartConnect(
        host=parts.hostname,
        port=port,
        protocol=scheme,
        user=username,
        pwd=password,
        disableSslCertValidation=True,
    )


def _retrieve_contents(si, view):
    from pyVmomi import vim, vmodl

    collector = vmodl.query.PropertyCollector
    traversal = collector.TraversalSpec(
        name="view", path="view", skip=False, type=vim.view.ContainerView
    )
    spec = collector.FilterSpec(
        objectSet=[collector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
        propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=PROPERTIES)],
    )
    return si.content.propertyCollector.RetrieveContents([spec])


def _query_perf(si, vms, counter_id: int):
    from pyVmomi import vim

    pm = vim.PerformanceManager
    specs = [
        pm.QuerySpec(
            entity=vim.VirtualMachine(f"vm-{vm.pk}", si._stub),
            intervalId=20,
            maxSample=SAMPLES,
            metricId=[pm.MetricId(counterId=counter_id, instance="")],
        )
        for vm in vms
    ]
    return si.content.perfManager.QueryStats(querySpec=specs)


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000


def run_sdk_benchmark(
    url: str, username: str, password: str, vms: int = VMS, repeats: int = REPEATS
) -> dict:
    """The figures (medians of `repeats` runs) for `vms` VMs; the targets are for 64."""
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    from hostsim.routing import host_lock
    from pools import services
    from pools.models import ResourcePool

    host, machines = _bench_host(vms)
    try:
        root = ResourcePool.objects.get(host=host, is_root=True)
        timings: dict[str, list[float]] = {name: [] for name in TARGETS}
        for _ in range(repeats):
            si, login_ms = _timed(_connect, url, username, password)
            try:
                content = si.RetrieveContent()
                counter_id = next(
                    c.key
                    for c in content.perfManager.perfCounter
                    if (c.groupInfo.key, c.nameInfo.key, c.rollupType) == GRANTED
                )
                pool = vim.ResourcePool(f"resgroup-{root.pk}", si._stub)
                view = content.viewManager.CreateContainerView(pool, [vim.VirtualMachine], True)
                contents, retrieve_ms = _timed(_retrieve_contents, si, view)
                view.DestroyView()
                metrics, query_ms = _timed(_query_perf, si, machines, counter_id)
            finally:
                Disconnect(si)
            if len(contents) != vms or len(metrics) != vms:
                raise RuntimeError(
                    f"expected {vms} VMs, RetrieveContents gave {len(contents)} "
                    f"and QueryPerf {len(metrics)}"
                )
            samples = {len(metric.sampleInfo) for metric in metrics}
            if samples != {SAMPLES}:
                raise RuntimeError(
                    f"expected {SAMPLES} samples per VM, QueryPerf gave {sorted(samples)}"
                )
            timings["login_ms"].append(login_ms)
            timings["retrieve_contents_ms"].append(retrieve_ms)
            timings["query_perf_ms"].append(query_ms)
    finally:
        # Under the host's lock, so no tick of the worker is writing its samples meanwhile.
        with host_lock(host.pk, wait=LOCK_WAIT_S):
            for vm in machines:
                services.power_off(vm)
            services.delete_host(host)  # its pools, VMs and samples go with it
    medians = {name: round(statistics.median(values), 1) for name, values in timings.items()}
    return {
        "vms": vms,
        "samples_per_vm": SAMPLES,
        "repeats": repeats,
        **medians,
        "all_ms": {name: [round(v, 1) for v in values] for name, values in timings.items()},
        "targets": TARGETS,
        "vcsim_ms": VCSIM_MS,
        "met": {name: medians[name] <= TARGETS[name] for name in TARGETS},
    }
