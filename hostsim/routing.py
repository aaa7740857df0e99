"""Which worker holds which host's engine, and who may step a host right now.

Three Redis keys coordinate the lab's processes; their timeouts are chosen together, here:

- **Heartbeat** `vmemlab:worker:{nodename}` (epoch seconds) and its **incarnation**
  `vmemlab:worker:{nodename}:incarnation` (a random id per worker process), written every
  `HEARTBEAT_INTERVAL` by a thread of the worker, expiring after `WORKER_HEARTBEAT_TTL`. A worker
  is alive while its heartbeat exists. A worker restarted under the same name (the launcher's
  supervisor does that) has a new incarnation at once.
- **Lease** `vmemlab:host:{id}:owner` (`HostLease`): the worker whose queue gets the host's ticks.
  It lasts `host_lease_ttl()`, several ticks, and is renewed by each tick the owner runs, atomically
  (compare-and-expire in one script). A lease of a worker without a heartbeat is given to a live
  worker, which restores the engine from its checkpoint.
- **Lock** `vmemlab:host:{id}:lock` (`host_lock`): held while a tick, scan or fast-forward chunk of
  the host runs, so two never overlap. Its token names the holder (node name and incarnation). It
  expires after `LOCK_TTL` as a last resort; sooner, a lock whose holder is a worker that is gone
  (no heartbeat) or was restarted (another incarnation under its name) is stale and taken over at
  once, so a worker killed mid-tick does not keep its hosts frozen.

  HEARTBEAT_INTERVAL (5 s) < WORKER_HEARTBEAT_TTL (30 s): a busy worker is never taken for dead;
  WORKER_HEARTBEAT_TTL <= host lease: a dead worker's hosts move within one lease;
  LOCK_TTL (60 s) > the longest locked step (one fast-forward chunk, about a second; a tick of the
  benchmark's 512 GiB host, under one second), and holders extend it while they work.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from hostsim.redis_client import get_redis

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0  # seconds between a worker's heartbeats
WORKER_HEARTBEAT_TTL = 30  # seconds a worker counts as alive after its last heartbeat
HOST_LEASE_MIN_TTL = 30  # seconds a host stays with a worker that stopped ticking it
LOCK_TTL = 60  # seconds; the last resort when a lock's holder cannot be judged

_WORKER_KEY = "vmemlab:worker:{}"
_INCARNATION_KEY = "vmemlab:worker:{}:incarnation"
_OWNER_KEY = "vmemlab:host:{}:owner"
_LOCK_KEY = "vmemlab:host:{}:lock"


class HostBusy(Exception):
    """Another process is ticking, scanning or fast-forwarding this host right now."""


class Identity:
    """Who this process is, for lock tokens: a worker's node name, or a plain process."""

    def __init__(self):
        self.incarnation = uuid.uuid4().hex
        self.nodename: str | None = None  # set when this process becomes a Celery worker

    def token(self) -> str:
        name = self.nodename or f"process:{socket.gethostname()}:{os.getpid()}"
        return f"{name} {self.incarnation}"


identity = Identity()


def host_lease_ttl() -> int:
    """Long enough to outlast several ticks, however slow the lab runs (SIM_SPEED)."""
    from django.conf import settings

    return max(HOST_LEASE_MIN_TTL, int(3 * settings.SAMPLE_INTERVAL / settings.SIM_SPEED) + 1)


def worker_queue(nodename: str) -> str:
    return f"hostsim.{nodename}"


# --- workers -------------------------------------------------------------------------------------


def become_worker(nodename: str) -> None:
    """Called once at worker start: this process now speaks for `nodename`."""
    identity.nodename = nodename
    worker_heartbeat(nodename)


def worker_heartbeat(nodename: str) -> None:
    pipe = get_redis().pipeline()
    pipe.set(_WORKER_KEY.format(nodename), time.time(), ex=WORKER_HEARTBEAT_TTL)
    pipe.set(_INCARNATION_KEY.format(nodename), identity.incarnation, ex=WORKER_HEARTBEAT_TTL)
    pipe.execute()


def forget_worker(nodename: str) -> None:
    get_redis().delete(_WORKER_KEY.format(nodename), _INCARNATION_KEY.format(nodename))


def live_workers() -> list[str]:
    prefix = _WORKER_KEY.format("")
    names = []
    for key in get_redis().scan_iter(match=prefix + "*"):
        name = key.decode()[len(prefix) :]
        if not name.endswith(":incarnation"):
            names.append(name)
    return sorted(names)


def worker_heartbeats() -> dict[str, float]:
    """Live workers and the epoch time of each one's last heartbeat."""
    r = get_redis()
    names = live_workers()
    values = r.mget([_WORKER_KEY.format(name) for name in names]) if names else []
    return {name: float(value) for name, value in zip(names, values, strict=True) if value}


# --- leases --------------------------------------------------------------------------------------

# Renew only if the lease is ours: GET then EXPIRE as two calls could extend a lease that another
# worker was given in between.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class HostLease:
    """The lease of one host to one worker (see the module docstring)."""

    def __init__(self, host_id: int):
        self.host_id = host_id
        self.key = _OWNER_KEY.format(host_id)

    def owner(self) -> str | None:
        owner = get_redis().get(self.key)
        return owner.decode() if owner else None

    def live_owner(self) -> str | None:
        """The owner if it is alive, else None."""
        owner = self.owner()
        return owner if owner and get_redis().exists(_WORKER_KEY.format(owner)) else None

    def renew(self, nodename: str) -> bool:
        """Keep the host with `nodename`, taking it if free; False if another worker holds it."""
        r = get_redis()
        ttl = host_lease_ttl()
        if r.set(self.key, nodename, ex=ttl, nx=True):
            return True
        return bool(r.eval(_RENEW, 1, self.key, nodename, ttl))

    def give(self, nodename: str) -> None:
        get_redis().set(self.key, nodename, ex=host_lease_ttl())


def host_owner(host_id: int) -> str | None:
    return HostLease(host_id).owner()


def renew_lease(host_id: int, nodename: str) -> bool:
    return HostLease(host_id).renew(nodename)


def assign_hosts(host_ids: list[int]) -> dict[int, str]:
    """Lease every host to a live worker, keeping live leases; returns host -> worker."""
    workers = live_workers()
    if not workers:
        return {}
    leases = {host_id: HostLease(host_id) for host_id in host_ids}
    owners = {host_id: lease.owner() for host_id, lease in leases.items()}
    load = {worker: 0 for worker in workers}
    for owner in owners.values():
        if owner in load:
            load[owner] += 1
    assignment = {}
    for host_id, owner in owners.items():
        if owner not in load:
            owner = min(load, key=lambda w: (load[w], w))
            leases[host_id].give(owner)
            load[owner] += 1
        assignment[host_id] = owner
    return assignment


# --- locks ---------------------------------------------------------------------------------------

# Delete the lock only if it still holds the stale token we judged, so a holder that took it
# meanwhile keeps it.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


_held: set[int] = set()  # hosts whose lock this process holds now
_held_guard = threading.Lock()


def _holder_is_gone(token: str) -> bool:
    """True when the lock's holder is a worker that died or was restarted.

    A plain process (a web request, `manage.py simulate`) has no heartbeat to judge it by: its
    lock is left to expire.
    """
    name, _, incarnation = token.partition(" ")
    if name.startswith("process:") or not incarnation:
        return False
    current = get_redis().get(_INCARNATION_KEY.format(name))
    return current is None or current.decode() != incarnation


def lock_holder(host_id: int) -> str | None:
    token = get_redis().get(_LOCK_KEY.format(host_id))
    return token.decode() if token else None


@contextmanager
def host_lock(host_id: int, *, wait: float = 0.0) -> Iterator[redis.lock.Lock]:
    """Hold the host's lock, taking over a stale one; HostBusy if a live holder keeps it.

    Stale: its holder is a worker that is gone, or it is this process's own, left behind by a
    release that never reached Redis (Redis away for a moment), which this process takes back
    rather than wait out its TTL.
    """
    r = get_redis()
    key = _LOCK_KEY.format(host_id)
    token = identity.token()
    lock = r.lock(key, timeout=LOCK_TTL)
    deadline = time.monotonic() + wait
    while True:
        with _held_guard:  # the threads of a web process share its token
            if lock.acquire(blocking=False, token=token):
                _held.add(host_id)
                break
            held = r.get(key)
            stale = held is not None and (
                _holder_is_gone(held.decode()) or (held.decode() == token and host_id not in _held)
            )
        if stale:
            r.eval(_TAKE_OVER, 1, key, held)
            continue
        if time.monotonic() >= deadline:
            raise HostBusy(f"Host {host_id} is busy; try again in a moment.")
        time.sleep(0.05)
    try:
        yield lock
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("lock of host %s expired while held", host_id)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            # What the lock guarded is done (a tick's samples are committed): not a failure of it.
            log.warning(
                "could not release the lock of host %s (%s); this process takes it back at its "
                "next use, another after %s s",
                host_id,
                str(error),  # (a message, not the error: config.log_filters folds those)
                LOCK_TTL,
            )
        finally:
            with _held_guard:
                _held.discard(host_id)
