"""The host actor: one live engine per host, held by the worker process that owns the host.

A tick (1) takes the host's lock, so ticks, scans and fast-forwards of one host never overlap;
(2) makes sure the in-memory engine is current, restoring it from the latest checkpoint when this
process has none or another process moved the host on; (3) applies configuration changes by
version number and pending guest operations; (4) advances the engine one real-time interval;
(5) stores one sample per entity (idempotent: a timestamp is never written twice) and (6) after
commit announces the rows for broadcasting. Every few ticks the engine is checkpointed, and at once
after a restore, so a second crash never rolls back further than the first.

A fast-forward is an `AdvanceJob` run in chunks of about a second on the worker that holds the
host (`run_advance_chunk`), each chunk one transaction that stores its samples with the job's
progress, the engine checkpointed every few seconds of work; between chunks the worker ticks its
other hosts.
"""

import dataclasses
import logging
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import zstandard
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import LockError

from hostsim import layers, sample_versions
from hostsim.engine import HostSim, VMConfig
from hostsim.models import (
    REALTIME_INTERVAL,
    AdvanceJob,
    Checkpoint,
    EntityKind,
    GuestOperation,
    Host,
    HostView,
    Sample,
    VirtualMachine,
)
from hostsim.rollups import rollup_host
from hostsim.routing import LOCK_TTL, HostBusy, host_lock
from hostsim.signals import host_advanced, samples_committed, samples_written

log = logging.getLogger(__name__)

Outcome = GuestOperation.Outcome
ADVANCE_CHUNK_TICKS = 90  # most ticks in one fast-forward chunk and transaction (30 simulated min)
ADVANCE_CHUNK_WALL_SECONDS = 1.0  # a chunk yields after at most this long, so other hosts tick
ADVANCE_LOCK_WAIT = 5.0  # seconds a chunk waits for a tick of its host to finish
# A running fast-forward checkpoints its engine after the chunk that ends this much work since the
# last checkpoint (and when it ends): a killed worker loses at most about this much of the job's
# engine state, while a day of a demo host (a snapshot costs about a second) spends a few percent
# of its time on checkpoints instead of doubling.
ADVANCE_CHECKPOINT_SECONDS = 10.0
ADVANCE_ANNOUNCE_EVERY = 5.0  # wall seconds between "reload your charts" while a job runs

__all__ = ["HostBusy", "host_lock"]  # re-exported: callers take the host lock through the runtime


class AdvanceConflict(Exception):
    """The host already has a fast-forward queued or running."""

    def __init__(self, job: AdvanceJob):
        super().__init__(f"Host {job.host_id} is already being fast-forwarded (job {job.pk}).")
        self.job = job


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
    vm_boots: dict[int, int] = field(default_factory=dict)  # database VM id -> power_on_count seen
    host_version: int = 0
    ticks_since_checkpoint: int = 0
    unscanned_seconds: float = 0.0
    # A new or restored engine is checkpointed after its first tick: a new one so a crash does not
    # reboot its guests, a restored one so a second crash does not roll back to the same old state.
    needs_checkpoint: bool = True
    checkpointed_at: float = field(default_factory=time.monotonic)  # wall clock, for fast-forwards


# The engines this process holds, by host id.
_actors: dict[int, HostActor] = {}


def _align(moment: datetime) -> datetime:
    """Floor to the real-time interval, so sample times fall on 20-second boundaries like ESXi's."""
    seconds = int(moment.timestamp()) // REALTIME_INTERVAL * REALTIME_INTERVAL
    return datetime.fromtimestamp(seconds, tz=UTC)


def _last_stored(host_id: int) -> datetime | None:
    return (
        Sample.objects.filter(
            host_id=host_id, entity_kind=EntityKind.HOST, interval=REALTIME_INTERVAL
        )
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )


def engine_config(vm: VirtualMachine) -> VMConfig:
    return VMConfig(
        name=vm.name,
        memory_mb=vm.memory_mb,
        vcpus=vm.vcpus,
        guest_os=vm.guest_os,
        workload=vm.workload,
        mmu=vm.mmu_mode,
        pshare=vm.pshare_enabled,
        salt=vm.pshare_salt or None,
        reservation_mb=vm.memory_reservation,
        limit_mb=vm.memory_limit,
        shares=vm.memory_shares or None,  # the value pools.services computed from the level
        balloon=vm.balloon_driver,
    )


def engine_tree(document: dict, vm_map: dict[int, int]) -> dict:
    """Host.resource_tree (database VM ids) as the engine takes it (engine VM ids); VMs the
    engine does not hold yet are left out, and sit under the root until the next sync."""
    return {
        **document,
        "vms": [vm_map[vm_id] for vm_id in document.get("vms", []) if vm_id in vm_map],
        "children": [engine_tree(child, vm_map) for child in document.get("children", [])],
    }


def _hardware(machine: Host | HostSim) -> tuple:
    """What makes a host a different machine: memory, CPU, MMU support and the seed."""
    return (machine.memory_mb, machine.cpu_mhz, machine.hardware_mmu, machine.seed)


def _new_actor(host: Host, clock: datetime | None = None) -> HostActor:
    sim = HostSim(
        host.memory_mb,
        host.cpu_mhz,
        hardware_mmu=host.hardware_mmu,
        settings=host.settings,
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
        sim = HostSim.restore(unpack_engine_state(bytes(checkpoint.engine_state)))
    except Exception as exc:  # e.g. written by an older engine: start afresh, the clock continues
        log.error(
            "checkpoint of host %s (clock %s) cannot be read (%r); starting a new engine, whose "
            "guests boot again",
            host.pk,
            checkpoint.clock.isoformat(),
            exc,
        )
        return _new_actor(host)
    actor = HostActor(
        host_id=host.pk,
        sim=sim,
        clock=max(checkpoint.clock, _last_stored(host.pk) or checkpoint.clock),
        vm_map={int(k): v["engine_id"] for k, v in checkpoint.vm_map.items()},
        vm_versions={int(k): v["version"] for k, v in checkpoint.vm_map.items()},
        vm_boots={int(k): v["boots"] for k, v in checkpoint.vm_map.items() if "boots" in v},
        host_version=checkpoint.host_version,
    )
    # Guest operations applied after the snapshot was taken are replayed, so none is lost.
    replay = GuestOperation.objects.filter(
        vm__host=host, applied_at__gt=checkpoint.clock, outcome=Outcome.APPLIED
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
    """Apply host and VM configuration that changed since the engine last saw it: settings, the
    VMs, then the resource tree (which names the VMs)."""
    host_changed = host.config_version != actor.host_version
    if host_changed:
        if _hardware(host) != _hardware(actor.sim):
            # New memory, CPU, MMU support or seed is a different machine: build it afresh (its
            # VMs boot again), the clock going on. pools.services only allows it with VMs off.
            actor.sim = _new_actor(host, actor.clock).sim
            actor.vm_map, actor.vm_versions, actor.vm_boots = {}, {}, {}
        actor.sim.set_settings(**host.settings)
        actor.host_version = host.config_version
    held = set(actor.vm_map)
    sim = actor.sim
    vms = {vm.pk: vm for vm in VirtualMachine.objects.filter(host=host)}
    for vm_id in set(actor.vm_map) - set(vms):
        engine_id = actor.vm_map.pop(vm_id)
        actor.vm_versions.pop(vm_id, None)
        actor.vm_boots.pop(vm_id, None)
        if sim.is_powered_on(engine_id):  # deleted before a tick saw it powered off
            sim.power_off(engine_id)
        sim.remove_vm(engine_id)
    for vm in vms.values():
        try:
            _sync_vm(actor, vm)
        except ValueError as exc:  # e.g. hardware MMU asked of a host without it
            log.warning("VM %s (%s) configuration not applied: %s", vm.pk, vm.name, exc)
            actor.vm_versions[vm.pk] = vm.config_version
    if host_changed or set(actor.vm_map) != held:
        _apply_tree(actor, host)


def _apply_tree(actor: HostActor, host: Host) -> None:
    if not host.resource_tree:  # a host whose tree pools.services has not written yet
        return
    try:
        actor.sim.set_resource_tree(engine_tree(host.resource_tree, actor.vm_map))
    except ValueError as exc:  # a tree the engine refuses: keep dividing down the last good one
        log.warning("host %s: resource tree not applied: %s", host.pk, exc)


def _sync_vm(actor: HostActor, vm: VirtualMachine) -> None:
    sim = actor.sim
    engine_id = actor.vm_map.get(vm.pk)
    if engine_id is None:
        engine_id = actor.vm_map[vm.pk] = sim.add_vm(engine_config(vm))
    elif actor.vm_versions.get(vm.pk) != vm.config_version:
        wanted = dataclasses.asdict(engine_config(vm))
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
    seen_boots = actor.vm_boots.get(vm.pk)
    actor.vm_boots[vm.pk] = vm.power_on_count
    cycled = seen_boots is not None and seen_boots != vm.power_on_count
    if cycled and vm.powered_on and sim.is_powered_on(engine_id):
        sim.power_off(engine_id)  # powered off and on again since the last tick: it boots afresh
    if vm.powered_on and not sim.is_powered_on(engine_id):
        sim.power_on(engine_id)
    elif not vm.powered_on and sim.is_powered_on(engine_id):
        sim.power_off(engine_id)


def _apply_guest_operation(actor: HostActor, operation: GuestOperation) -> tuple[str, str]:
    """(outcome, detail) of carrying `operation` out in the engine."""
    engine_id = actor.vm_map[operation.vm_id]
    if not actor.sim.is_powered_on(engine_id):
        return Outcome.POWERED_OFF, ""
    action = {
        # The syscall reserves; the toucher touches it as it runs (the map shows both).
        GuestOperation.Action.ALLOCATE: lambda vm, mb: actor.sim.guest_allocate(
            vm, mb, touch=False
        ),
        GuestOperation.Action.FREE: actor.sim.guest_free,
        GuestOperation.Action.WRITE: actor.sim.guest_write,
    }[operation.action]
    try:
        action(engine_id, operation.amount)
    except ValueError as exc:
        return Outcome.REFUSED, str(exc)[:200]
    return Outcome.APPLIED, ""


def _apply_pending_operations(actor: HostActor, at: datetime) -> None:
    pending = GuestOperation.objects.filter(vm__host_id=actor.host_id, applied_at__isnull=True)
    for operation in pending.order_by("id"):
        operation.outcome, operation.detail = (
            _apply_guest_operation(actor, operation)
            if operation.vm_id in actor.vm_map
            else (Outcome.NOT_ON_HOST, "")
        )
        operation.applied_at = at
        operation.save(update_fields=["outcome", "detail", "applied_at"])


def _collect_rows(actor: HostActor, ts: datetime) -> list[SampleRow]:
    sim = actor.sim
    rows = [SampleRow(EntityKind.HOST, actor.host_id, ts, sim.host_counters())]
    for vm_id, engine_id in actor.vm_map.items():
        if sim.is_powered_on(engine_id):  # vSphere shows no data for a powered-off VM
            rows.append(SampleRow(EntityKind.VM, vm_id, ts, sim.vm_counters(engine_id)))
    return rows


def _esxtop(actor: HostActor) -> dict:
    """The engine's esxtop screen with database VM ids, for the dashboard's panel."""
    screen = actor.sim.esxtop()
    to_db = {engine_id: vm_id for vm_id, engine_id in actor.vm_map.items()}
    screen["vms"] = [{**row, "id": to_db[row["id"]]} for row in screen["vms"] if row["id"] in to_db]
    return screen


def _advance_one(
    actor: HostActor, host: Host, *, scan: bool, sync: bool = True, view: bool = True
) -> list[SampleRow]:
    """One real-time interval of the engine; returns the rows to store (with `_write_rows`).

    `sync` False skips reading the configuration and the pending guest operations: a
    fast-forward chunk reads them at its first tick only (its host row was read once anyway),
    so what an admin changes during a chunk of a second or so takes effect at the next one.
    `view` False leaves the host's esxtop screen to the caller (a fast-forward chunk stores only
    its last one: nobody sees the ones in between, and each costs a query and the screen).
    """
    ts = actor.clock + timedelta(seconds=REALTIME_INTERVAL)
    if sync:
        _sync_config(actor, host)
        _apply_pending_operations(actor, ts)
    actor.sim.step(REALTIME_INTERVAL, scan=scan)
    if not scan:
        actor.unscanned_seconds += REALTIME_INTERVAL
    rows = _collect_rows(actor, ts)
    actor.clock = ts
    if view:
        _store_view(actor)
    actor.ticks_since_checkpoint += 1
    return rows


def _write_rows(host_id: int, rows: list[SampleRow]) -> list[SampleRow]:
    """Store the rows of one or more ticks inside the caller's transaction, with the rows the
    receivers of `samples_written` add (the pools'); returns every row stored."""
    for _receiver, extra in samples_written.send(sender=Host, host_id=host_id, rows=rows):
        rows.extend(extra or [])
    Sample.objects.store_new(
        host_id, REALTIME_INTERVAL, [(row.kind, row.entity_id, row.ts, row.values) for row in rows]
    )
    return rows


def _store_view(actor: HostActor) -> None:
    HostView.objects.update_or_create(
        host_id=actor.host_id, defaults={"ts": actor.clock, "esxtop": _esxtop(actor)}
    )


def _committed(host_id: int, rows: list[SampleRow]) -> None:
    sample_versions.bump(host_id)  # before the broadcast: a poller told of it must see it
    samples_committed.send(sender=Host, host_id=host_id, rows=rows)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # the first bytes of every Zstandard frame


def pack_engine_state(snapshot: bytes) -> bytes:
    """A snapshot as a checkpoint stores it: Zstandard level 1. On the demo's 16 GB host (108 MB
    of snapshot) it takes 0.2 s for 31 MB, where zlib level 1 took 1.1 s for 30 MB: a day's
    fast-forward checkpoints some thirty times."""
    return zstandard.ZstdCompressor(level=1).compress(snapshot)


def unpack_engine_state(stored: bytes) -> bytes:
    """The snapshot in a stored checkpoint: Zstandard, or zlib as checkpoints were written before,
    so a lab upgraded in place resumes its guests instead of booting them again."""
    if stored.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().decompress(stored)
    return zlib.decompress(stored)


def checkpoint(actor: HostActor) -> None:
    state = pack_engine_state(actor.sim.snapshot())
    on_postgresql = connection.vendor == "postgresql"
    fields = {
        "clock": actor.clock,
        "vm_map": {
            str(vm_id): {
                "engine_id": engine_id,
                "version": actor.vm_versions.get(vm_id, 0),
                **({"boots": actor.vm_boots[vm_id]} if vm_id in actor.vm_boots else {}),
            }
            for vm_id, engine_id in actor.vm_map.items()
        },
        "host_version": actor.host_version,
    }
    with transaction.atomic():
        # One INSERT ... ON CONFLICT DO UPDATE: update_or_create would read the row first, and
        # with it the old snapshot of tens of MB, only to replace it.
        Checkpoint.objects.bulk_create(
            [
                Checkpoint(
                    host_id=actor.host_id, engine_state=b"" if on_postgresql else state, **fields
                )
            ],
            update_conflicts=True,
            unique_fields=["host"],
            update_fields=[*fields, "saved", *([] if on_postgresql else ["engine_state"])],
        )
        if on_postgresql:
            _write_engine_state(actor.host_id, state)
    actor.ticks_since_checkpoint = 0
    actor.needs_checkpoint = False
    actor.checkpointed_at = time.monotonic()


def _write_engine_state(host_id: int, state: bytes) -> None:
    """The snapshot as a binary parameter. Django's psycopg cursors bind client-side, quoting every
    byte of a many-MB bytea in Python (about 3x slower, and it held a fast-forward's checkpoints
    up); a server-binding cursor on the same connection, inside the same transaction, sends the
    bytes as they are."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {Checkpoint._meta.db_table} SET engine_state = %b WHERE host_id = %s",
            (state, host_id),
        )


def _advancing(host_id: int) -> bool:
    return AdvanceJob.objects.filter(host_id=host_id, state__in=AdvanceJob.ACTIVE).exists()


def tick(host_id: int) -> str:
    """Advance the host one real-time interval, unless another tick of it is still running."""
    try:
        with host_lock(host_id):
            host = Host.objects.filter(pk=host_id).first()
            if host is None:
                forget(host_id)
                return "gone"
            if _advancing(host_id):
                return "advancing"  # the fast-forward's chunks move this host on
            actor = current_actor(host)
            try:
                with transaction.atomic():
                    rows = _write_rows(host_id, _advance_one(actor, host, scan=False))
                    transaction.on_commit(lambda: _committed(host_id, rows))
            except Exception:
                forget(host_id)  # the engine moved on but nothing was stored: start again
                raise
            if (
                actor.needs_checkpoint
                or actor.ticks_since_checkpoint >= settings.SIM_CHECKPOINT_TICKS
            ):
                checkpoint(actor)
            layers.publish(actor, actor.clock)  # the memory maps of watched VMs and hosts
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


# --- fast-forward jobs ---------------------------------------------------------------------------


def start_advance(host_id: int, seconds: int, requested_by: str = "") -> AdvanceJob:
    """Queue a fast-forward of `seconds` simulated seconds; AdvanceConflict if one is active."""
    ticks = max(1, int(seconds) // REALTIME_INTERVAL)
    try:
        with transaction.atomic():
            return AdvanceJob.objects.create(
                host_id=host_id, ticks_total=ticks, requested_by=requested_by[:150]
            )
    except IntegrityError:  # the one-active-job-per-host constraint
        active = AdvanceJob.objects.filter(host_id=host_id, state__in=AdvanceJob.ACTIVE).first()
        if active is None:  # it finished in between: try once more
            return start_advance(host_id, seconds, requested_by)
        raise AdvanceConflict(active) from None


def _finish(job_id: int, state: str, **fields) -> None:
    AdvanceJob.objects.filter(pk=job_id, state__in=AdvanceJob.ACTIVE).update(
        state=state, finished=timezone.now(), updated=timezone.now(), **fields
    )


def cancel_advance(job: AdvanceJob) -> AdvanceJob:
    """Cancel a queued or running fast-forward; what it already simulated stays stored.

    Under the host's lock no chunk runs, so the job is ended at once; if a chunk holds the lock,
    the job is marked and the chunk ends it when it finishes.
    """
    if job.active:
        AdvanceJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        try:
            with host_lock(job.host_id, wait=2.0):
                _finish(job.pk, AdvanceJob.State.CANCELLED)
        except HostBusy:
            pass
    return AdvanceJob.objects.get(pk=job.pk)


def run_advance_chunk(job_id: int) -> str:
    """Run the next chunk of a fast-forward: "more" if it goes on, else how it ended.

    The chunk's samples and the job's progress are stored in one transaction, and the engine is
    checkpointed after every ADVANCE_CHECKPOINT_SECONDS of work, so a worker killed mid-job loses
    at most that much engine state, no stored sample, and the job resumes where its stored
    progress says.
    """
    job = AdvanceJob.objects.filter(pk=job_id).first()
    if job is None or not job.active:
        return "finished"
    try:
        with host_lock(job.host_id, wait=ADVANCE_LOCK_WAIT) as lock:
            return _run_chunk_locked(job_id, lock)
    except HostBusy:
        return "more"  # a tick of the host outlasted the wait: the next chunk tries again


def _run_chunk_locked(job_id: int, lock) -> str:
    job = AdvanceJob.objects.select_related("host").filter(pk=job_id).first()
    if job is None or not job.active:
        return "finished"
    if job.cancel_requested:
        _finish(job.pk, AdvanceJob.State.CANCELLED)
        return AdvanceJob.State.CANCELLED
    host = job.host
    actor = current_actor(host)
    if job.state == AdvanceJob.State.QUEUED:
        AdvanceJob.objects.filter(pk=job.pk).update(
            state=AdvanceJob.State.RUNNING,
            started=timezone.now(),
            simulated_from=actor.clock,
            updated=timezone.now(),
        )
    budget = min(ADVANCE_CHUNK_TICKS, job.ticks_total - job.ticks_done)
    # Half a tick interval at most: a tick queued behind the chunk still runs before it expires.
    wall = min(ADVANCE_CHUNK_WALL_SECONDS, settings.SAMPLE_INTERVAL / settings.SIM_SPEED / 2)
    started = time.monotonic()
    done = 0
    try:
        with transaction.atomic():
            rows: list[SampleRow] = []
            while done < budget and (done == 0 or time.monotonic() - started < wall):
                rows += _advance_one(actor, host, scan=True, sync=done == 0, view=False)
                done += 1
            _write_rows(host.pk, rows)
            _store_view(actor)
            AdvanceJob.objects.filter(pk=job.pk).update(
                ticks_done=F("ticks_done") + done,
                reached=actor.clock,
                wall_seconds=F("wall_seconds") + (time.monotonic() - started),
                updated=timezone.now(),  # QuerySet.update() leaves auto_now fields alone
            )
        sample_versions.bump(host.pk)
    except Exception as exc:
        forget(host.pk)  # the engine ran past what was stored; the next tick restores
        log.exception("fast-forward job %s of host %s failed", job.pk, host.pk)
        _finish(job.pk, AdvanceJob.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        return AdvanceJob.State.FAILED
    try:
        lock.extend(LOCK_TTL, replace_ttl=True)
    except LockError:
        # The lock expired while the chunk ran and another holder took the host: what this chunk
        # stored stays (its samples and progress are one transaction), but this process's engine
        # is no longer the host's. Drop it; the next chunk takes the lock and restores.
        forget(host.pk)
        log.warning(
            "fast-forward job %s lost the lock of host %s; the next chunk goes on", job.pk, host.pk
        )
        return "more"
    job.refresh_from_db()
    finished = job.ticks_done >= job.ticks_total
    if (
        finished
        or job.cancel_requested
        or actor.needs_checkpoint
        or time.monotonic() - actor.checkpointed_at >= ADVANCE_CHECKPOINT_SECONDS
    ):
        checkpoint(actor)
    if finished or job.cancel_requested:
        rollup_host(host.pk)
        state = AdvanceJob.State.DONE if finished else AdvanceJob.State.CANCELLED
        _finish(job.pk, state)
    if finished or job.cancel_requested or _announce_due(job):
        start = job.simulated_from or actor.clock
        ended = finished or job.cancel_requested
        if ended:
            _last_announced.pop(job.pk, None)
        host_advanced.send(sender=Host, host_id=host.pk, start=start, end=actor.clock, final=ended)
    if finished:
        return AdvanceJob.State.DONE
    return AdvanceJob.State.CANCELLED if job.cancel_requested else "more"


_last_announced: dict[int, float] = {}  # job id -> monotonic time of its last host_advanced


def _announce_due(job: AdvanceJob) -> bool:
    now = time.monotonic()
    if now - _last_announced.get(job.pk, 0.0) < ADVANCE_ANNOUNCE_EVERY:
        return False
    _last_announced[job.pk] = now
    return True


def advance(host_id: int, seconds: int) -> dict:
    """Fast-forward in this process, start to end: for `manage.py simulate` and tests.

    The job runs through the same chunks a worker runs; if a worker holds the host, it notices
    the stored samples moved on and restores from the checkpoint written here.
    """
    job = start_advance(host_id, seconds)
    while run_advance_chunk(job.pk) == "more":
        pass
    forget(host_id)  # this process does not own the host: keep no engine here
    job.refresh_from_db()
    return job_summary(job)


def job_summary(job: AdvanceJob) -> dict:
    return {
        "host": job.host_id,
        "job": job.pk,
        "state": job.state,
        "ticks": job.ticks_done,
        "simulatedSeconds": job.ticks_done * REALTIME_INTERVAL,
        "from": job.simulated_from.isoformat() if job.simulated_from else None,
        "to": job.reached.isoformat() if job.reached else None,
        "wallSeconds": round(job.wall_seconds, 3),
        "error": job.error,
    }
