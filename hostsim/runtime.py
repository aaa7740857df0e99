"""The host actor: one live engine per host, held by the worker process that owns the host.

A tick (1) takes the host's lock, so ticks, scans and fast-forwards of one host never overlap;
(2) makes sure the in-memory engine is current, restoring it from the latest checkpoint when this
process has none or another process moved the host on; (3) applies configuration changes by
version number and pending guest operations; (4) advances the engine one real-time interval;
(5) stores one sample per entity (idempotent: a timestamp is never written twice) and (6) after
commit announces the rows for broadcasting. Every few ticks the engine is checkpointed.
"""

import dataclasses
import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction

from hostsim.engine import HostSim, VMConfig
from hostsim.models import (
    REALTIME_INTERVAL,
    Checkpoint,
    EntityKind,
    GuestOperation,
    Host,
    Sample,
    VirtualMachine,
)
from hostsim.redis_client import get_redis
from hostsim.rollups import rollup_host
from hostsim.signals import host_advanced, samples_committed, samples_written

log = logging.getLogger(__name__)

LOCK_TTL = 60  # seconds; a crashed holder frees the host after this, a live one keeps extending
APPLIED = "applied"  # GuestOperation.result of an operation the engine carried out
ADVANCE_BATCH_TICKS = 90  # ticks stored per transaction when fast-forwarding (30 simulated min)


class HostBusy(Exception):
    """Another process is ticking, scanning or fast-forwarding this host right now."""


@dataclass(frozen=True)
class SampleRow:
    kind: str
    entity_id: int
    ts: datetime
    values: dict


@dataclass
class HostActor:
    host_id: int
    sim: HostSim
    clock: datetime  # simulated time of the last stored sample
    vm_map: dict[int, int] = field(default_factory=dict)  # database VM id -> engine VM id
    vm_versions: dict[int, int] = field(default_factory=dict)
    host_version: int = 0
    ticks_since_checkpoint: int = 0
    unscanned_seconds: float = 0.0
    checkpointed: bool = False  # a new engine is checkpointed after its first tick


# The engines this process holds, by host id.
_actors: dict[int, HostActor] = {}


@contextmanager
def host_lock(host_id: int, *, wait: float = 0.0) -> Iterator[redis.lock.Lock]:
    lock = get_redis().lock(f"vmemlab:host:{host_id}:lock", timeout=LOCK_TTL)
    if not lock.acquire(blocking=wait > 0, blocking_timeout=wait or None):
        raise HostBusy(f"Host {host_id} is busy; try again in a moment.")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("lock of host %s expired while held", host_id)


def _align(moment: datetime) -> datetime:
    """Floor to the real-time interval, so sample times fall on 20-second boundaries like ESXi's."""
    seconds = int(moment.timestamp()) // REALTIME_INTERVAL * REALTIME_INTERVAL
    return datetime.fromtimestamp(seconds, tz=UTC)


def _last_stored(host_id: int) -> datetime | None:
    return (
        Sample.objects.filter(host_id=host_id, entity_kind=EntityKind.HOST, interval=REALTIME_INTERVAL)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )


def _vm_config(vm: VirtualMachine) -> VMConfig:
    return VMConfig(
        name=vm.name,
        memory_mb=vm.memory_mb,
        vcpus=vm.vcpus,
        guest_os=vm.guest_os,
        workload=vm.workload,
        mmu=vm.mmu_mode,
        pshare=vm.pshare_enabled,
        salt=vm.pshare_salt or None,
    )


def _hardware(machine: Host | HostSim) -> tuple:
    """What makes a host a different machine: memory, CPU, MMU support and the seed."""
    return (machine.memory_mb, machine.cpu_mhz, machine.hardware_mmu, machine.seed)


def _new_actor(host: Host, clock: datetime | None = None) -> HostActor:
    sim = HostSim(
        host.memory_mb,
        host.cpu_mhz,
        hardware_mmu=host.hardware_mmu,
        settings=host.advanced_settings,
        seed=host.seed,
    )
    start = clock or _last_stored(host.pk) or _align(host.created)
    return HostActor(host_id=host.pk, sim=sim, clock=start, host_version=host.config_version)


def _restore_actor(host: Host) -> HostActor:
    """Resume from the checkpoint; the clock continues after the last stored sample."""
    checkpoint = Checkpoint.objects.filter(host=host).first()
    if checkpoint is None:
        return _new_actor(host)
    try:
        sim = HostSim.restore(zlib.decompress(bytes(checkpoint.engine_state)))
    except Exception as exc:  # e.g. written by an older engine: start afresh, the clock continues
        log.warning("checkpoint of host %s not restorable (%r); starting a new engine", host.pk, exc)
        return _new_actor(host)
    actor = HostActor(
        host_id=host.pk,
        sim=sim,
        clock=max(checkpoint.clock, _last_stored(host.pk) or checkpoint.clock),
        vm_map={int(k): v["engine_id"] for k, v in checkpoint.vm_map.items()},
        vm_versions={int(k): v["version"] for k, v in checkpoint.vm_map.items()},
        host_version=checkpoint.host_version,
        checkpointed=True,
    )
    # Guest operations applied after the snapshot was taken are replayed, so none is lost.
    replay = GuestOperation.objects.filter(
        vm__host=host, applied_at__gt=checkpoint.clock, result=APPLIED
    ).order_by("id")
    for operation in replay:
        if operation.vm_id in actor.vm_map:
            _apply_guest_operation(actor, operation)
    return actor


def current_actor(host: Host) -> HostActor:
    """The engine of `host` in this process, restored if it is missing or stale.

    Stale means another process stored samples since this one last did (a takeover, a
    fast-forward from the web process or `manage.py simulate`).
    """
    actor = _actors.get(host.pk)
    if actor is None or actor.clock != (_last_stored(host.pk) or actor.clock):
        actor = _restore_actor(host)
        _actors[host.pk] = actor
    return actor


def forget(host_id: int) -> None:
    _actors.pop(host_id, None)


def _sync_config(actor: HostActor, host: Host) -> None:
    """Apply host and VM configuration that changed since the engine last saw it."""
    if host.config_version != actor.host_version:
        if _hardware(host) != _hardware(actor.sim):
            # New memory, CPU, MMU support or seed is a different machine: build it afresh (its
            # VMs boot again), the clock going on. pools.services only allows it with VMs off.
            actor.sim, actor.vm_map, actor.vm_versions = _new_actor(host, actor.clock).sim, {}, {}
        actor.sim.set_settings(**host.advanced_settings)
        actor.host_version = host.config_version
    sim = actor.sim
    vms = {vm.pk: vm for vm in VirtualMachine.objects.filter(host=host)}
    for vm_id in set(actor.vm_map) - set(vms):
        engine_id = actor.vm_map.pop(vm_id)
        actor.vm_versions.pop(vm_id, None)
        if sim.is_powered_on(engine_id):  # deleted before a tick saw it powered off
            sim.power_off(engine_id)
        sim.remove_vm(engine_id)
    for vm in vms.values():
        try:
            _sync_vm(actor, vm)
        except ValueError as exc:  # e.g. hardware MMU asked of a host without it
            log.warning("VM %s (%s) configuration not applied: %s", vm.pk, vm.name, exc)
            actor.vm_versions[vm.pk] = vm.config_version


def _sync_vm(actor: HostActor, vm: VirtualMachine) -> None:
    sim = actor.sim
    engine_id = actor.vm_map.get(vm.pk)
    if engine_id is None:
        engine_id = actor.vm_map[vm.pk] = sim.add_vm(_vm_config(vm))
    elif actor.vm_versions.get(vm.pk) != vm.config_version:
        wanted = dataclasses.asdict(_vm_config(vm))
        current = dataclasses.asdict(sim.vm_config(engine_id))
        changes = {k: v for k, v in wanted.items() if current[k] != v}
        if changes:
            powered = sim.is_powered_on(engine_id)
            if "memory_mb" in changes and powered:
                sim.power_off(engine_id)  # a memory change needs a power cycle, as in vSphere
            sim.set_vm(engine_id, **changes)
            if "memory_mb" in changes and powered:
                sim.power_on(engine_id)
    actor.vm_versions[vm.pk] = vm.config_version
    if vm.powered_on and not sim.is_powered_on(engine_id):
        sim.power_on(engine_id)
    elif not vm.powered_on and sim.is_powered_on(engine_id):
        sim.power_off(engine_id)


def _apply_guest_operation(actor: HostActor, operation: GuestOperation) -> str:
    engine_id = actor.vm_map[operation.vm_id]
    if not actor.sim.is_powered_on(engine_id):
        return "not applied: the VM is powered off"
    action = {
        GuestOperation.Action.ALLOCATE: actor.sim.guest_allocate,
        GuestOperation.Action.FREE: actor.sim.guest_free,
        GuestOperation.Action.WRITE: actor.sim.guest_write,
    }[operation.action]
    try:
        action(engine_id, operation.amount)
    except ValueError as exc:
        return f"not applied: {exc}"
    return APPLIED


def _apply_pending_operations(actor: HostActor, at: datetime) -> None:
    pending = GuestOperation.objects.filter(vm__host_id=actor.host_id, applied_at__isnull=True)
    for operation in pending.order_by("id"):
        operation.result = (
            _apply_guest_operation(actor, operation)
            if operation.vm_id in actor.vm_map
            else "not applied: the VM is not on this host"
        )
        operation.applied_at = at
        operation.save(update_fields=["result", "applied_at"])


def _collect_rows(actor: HostActor, ts: datetime) -> list[SampleRow]:
    sim = actor.sim
    rows = [SampleRow(EntityKind.HOST, actor.host_id, ts, sim.host_counters())]
    for vm_id, engine_id in actor.vm_map.items():
        if sim.is_powered_on(engine_id):  # vSphere shows no data for a powered-off VM
            rows.append(SampleRow(EntityKind.VM, vm_id, ts, sim.vm_counters(engine_id)))
    return rows


def _store(host_id: int, rows: list[SampleRow]) -> None:
    Sample.objects.bulk_create(
        [
            Sample(
                host_id=host_id,
                entity_kind=row.kind,
                entity_id=row.entity_id,
                interval=REALTIME_INTERVAL,
                ts=row.ts,
                values=row.values,
            )
            for row in rows
        ],
        ignore_conflicts=True,  # a retried tick never duplicates or rewrites a stored sample
    )


def _advance_one(actor: HostActor, host: Host, *, scan: bool) -> list[SampleRow]:
    """One real-time interval inside the caller's transaction; returns the rows stored."""
    ts = actor.clock + timedelta(seconds=REALTIME_INTERVAL)
    _sync_config(actor, host)
    _apply_pending_operations(actor, ts)
    actor.sim.step(REALTIME_INTERVAL, scan=scan)
    if not scan:
        actor.unscanned_seconds += REALTIME_INTERVAL
    rows = _collect_rows(actor, ts)
    for _receiver, extra in samples_written.send(sender=Host, host_id=host.pk, ts=ts, rows=rows):
        rows.extend(extra or [])
    _store(host.pk, rows)
    actor.clock = ts
    actor.ticks_since_checkpoint += 1
    return rows


def checkpoint(actor: HostActor) -> None:
    Checkpoint.objects.update_or_create(
        host_id=actor.host_id,
        defaults={
            "clock": actor.clock,
            # zlib level 1: a sixth of the size for about half a second on a 16 GB host.
            "engine_state": zlib.compress(actor.sim.snapshot(), 1),
            "vm_map": {
                str(vm_id): {"engine_id": engine_id, "version": actor.vm_versions.get(vm_id, 0)}
                for vm_id, engine_id in actor.vm_map.items()
            },
            "host_version": actor.host_version,
        },
    )
    actor.ticks_since_checkpoint = 0
    actor.checkpointed = True


def tick(host_id: int) -> str:
    """Advance the host one real-time interval, unless another tick of it is still running."""
    try:
        with host_lock(host_id):
            host = Host.objects.filter(pk=host_id).first()
            if host is None:
                forget(host_id)
                return "gone"
            actor = current_actor(host)
            try:
                with transaction.atomic():
                    rows = _advance_one(actor, host, scan=False)
                    transaction.on_commit(
                        lambda: samples_committed.send(sender=Host, host_id=host_id, rows=rows)
                    )
            except Exception:
                forget(host_id)  # the engine moved on but nothing was stored: start again
                raise
            if actor.ticks_since_checkpoint >= settings.SIM_CHECKPOINT_TICKS or not actor.checkpointed:
                checkpoint(actor)
            return "ticked"
    except HostBusy:
        return "skipped"


def share_scan(host_id: int) -> str:
    """Run the page-sharing scan for the simulated time elapsed since the last scan."""
    try:
        with host_lock(host_id):
            actor = _actors.get(host_id)
            if actor is None or not actor.unscanned_seconds:
                return "idle"
            actor.sim.share_scan(actor.unscanned_seconds)
            actor.unscanned_seconds = 0.0
            return "scanned"
    except HostBusy:
        return "skipped"


def advance(host_id: int, seconds: int) -> dict:
    """Fast-forward: run `seconds` of simulated time now, storing every sample on the way.

    Runs in whichever process calls it (web request, management command or worker); the owning
    worker notices the stored samples moved on and restores from the checkpoint written here.
    """
    ticks = max(1, int(seconds) // REALTIME_INTERVAL)
    started = time.monotonic()
    with host_lock(host_id, wait=10.0) as lock:
        host = Host.objects.get(pk=host_id)
        actor = current_actor(host)
        start = actor.clock
        done = 0
        try:
            while done < ticks:
                batch = min(ADVANCE_BATCH_TICKS, ticks - done)
                with transaction.atomic():
                    for _ in range(batch):
                        _advance_one(actor, host, scan=True)
                        lock.extend(LOCK_TTL, replace_ttl=True)
                done += batch
        except BaseException:
            forget(host_id)  # the engine ran past what was stored; the next tick restores
            raise
        checkpoint(actor)
        lock.extend(LOCK_TTL, replace_ttl=True)
        rollup_host(host_id)
    host_advanced.send(sender=Host, host_id=host_id, start=start, end=actor.clock)
    return {
        "host": host_id,
        "ticks": done,
        "simulatedSeconds": done * REALTIME_INTERVAL,
        "from": start.isoformat(),
        "to": actor.clock.isoformat(),
        "wallSeconds": round(time.monotonic() - started, 3),
    }

