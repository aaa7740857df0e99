"""The fast-forward benchmark behind `manage.py bench advance`.

One host built like the demo's esxi-01.lab.local (16 GB, hardware MMU, salting 0, its six
powered-on VMs) runs a simulated day twice, side by side:

  engine_only  the engine alone: step(20) with the sharing scan and the counters read, as a
               fast-forward tick does, 4,320 times;
  end_to_end   a fast-forward job of the same day through hostsim.runtime (the chunks a worker
               runs): config sync, every sample of the host, its pools and VMs stored, the pool
               sums, a checkpoint after every chunk, and the rollups at the end.

The host is a throw-away copy (its own name), created through pools.services and deleted after.
"""

import time
import uuid

from django.db import connection

from hostsim import runtime
from hostsim.engine import HostSim
from hostsim.models import REALTIME_INTERVAL, Host, Sample
from pools import services
from pools.admission import Allocation
from pools.management.commands.seed_demo import HOSTS, VMS

DAY_S = 86400
DAY_TARGET_SECONDS = 60.0  # a simulated day of the demo host end to end, at most
RATIO_TARGET = 1.5  # end to end over engine only, at most


def _demo_host_copy(seconds: int) -> Host:
    spec = dict(HOSTS[0], name=f"bench-advance-{uuid.uuid4().hex[:8]}")
    host = services.create_host(**spec)
    for name, host_name, _pool, guest_os, workload, memory_mb, vcpus, extra, memory, on in VMS:
        if host_name != HOSTS[0]["name"] or not on:
            continue
        reservation, limit, shares_level = memory
        allocation = Allocation(
            reservation=reservation, limit=limit, shares_level=shares_level, expandable=False
        )
        vm = services.create_vm(
            host,
            name=name,
            guest_os=guest_os,
            workload=workload,
            memory_mb=memory_mb,
            vcpus=vcpus,
            memory=allocation,
            **extra,
        )
        services.power_on(vm)
    return host


def _engine_only(host: Host, ticks: int) -> float:
    sim = HostSim(
        host.memory_mb,
        host.cpu_mhz,
        hardware_mmu=host.hardware_mmu,
        settings=host.advanced_settings,
        seed=host.seed,
    )
    engine_ids = []
    for vm in host.vms.order_by("pk"):
        engine_ids.append(sim.add_vm(runtime.engine_config(vm)))
        sim.power_on(engine_ids[-1])
    started = time.perf_counter()
    for _ in range(ticks):
        sim.step(REALTIME_INTERVAL, scan=True)
        sim.host_counters()
        for engine_id in engine_ids:
            sim.vm_counters(engine_id)
    return time.perf_counter() - started


def run_advance_benchmark(seconds: int = DAY_S) -> dict:
    ticks = seconds // REALTIME_INTERVAL
    host = _demo_host_copy(seconds)
    try:
        engine_s = _engine_only(host, ticks)
        started = time.perf_counter()
        summary = runtime.advance(host.pk, seconds)
        end_to_end_s = time.perf_counter() - started
        # What the host keeps afterwards: the last hour of real-time samples and the day's
        # rollups (the rollups prune real-time samples past vCenter's one-hour retention).
        kept = Sample.objects.filter(host=host).count()
    finally:
        runtime.forget(host.pk)
        for vm in host.vms.all():
            services.power_off(vm)
        services.delete_host(Host.objects.get(pk=host.pk))
    figures = {
        "host": "copy of esxi-01.lab.local (16 GB, 6 powered-on VMs)",
        "database": connection.vendor,
        "simulated_seconds": seconds,
        "ticks": ticks,
        "engine_only_seconds": round(engine_s, 2),
        "engine_only_ticks_per_second": round(ticks / engine_s, 1),
        "end_to_end_seconds": round(end_to_end_s, 2),
        "end_to_end_ticks_per_second": round(ticks / end_to_end_s, 1),
        "end_to_end_over_engine_only": round(end_to_end_s / engine_s, 2),
        "job_state": summary["state"],
        "samples_kept": kept,
    }
    target_s = DAY_TARGET_SECONDS * seconds / DAY_S  # a shorter smoke run: the same pace
    figures["targets"] = {
        "end_to_end_seconds": target_s,
        "end_to_end_over_engine_only": RATIO_TARGET,
    }
    figures["met"] = {
        "end_to_end_seconds": end_to_end_s <= target_s,
        "end_to_end_over_engine_only": end_to_end_s / engine_s <= RATIO_TARGET,
    }
    return figures
