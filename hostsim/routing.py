"""Which worker holds which host's engine.

Each worker consumes a private queue named after itself and announces itself with a heartbeat
key in Redis. A host is leased to one live worker; the dispatcher sends the host's ticks and
scans to that worker's queue. When a worker stops renewing its heartbeat, its hosts are leased
to another worker, which restores them from their checkpoints. More workers take more hosts.
"""

import time

from hostsim.redis_client import get_redis

WORKER_HEARTBEAT_TTL = 30  # seconds a worker counts as alive after its last heartbeat
HOST_LEASE_MIN_TTL = 30  # seconds a host stays with a worker that stopped ticking it
_WORKER_KEY = "vmemlab:worker:{}"
_OWNER_KEY = "vmemlab:host:{}:owner"


def host_lease_ttl() -> int:
    """Long enough to outlast several ticks, however slow the lab runs (SIM_SPEED)."""
    from django.conf import settings

    return max(HOST_LEASE_MIN_TTL, int(3 * settings.SAMPLE_INTERVAL / settings.SIM_SPEED) + 1)


def worker_queue(nodename: str) -> str:
    return f"hostsim.{nodename}"


def worker_heartbeat(nodename: str) -> None:
    get_redis().set(_WORKER_KEY.format(nodename), time.time(), ex=WORKER_HEARTBEAT_TTL)


def forget_worker(nodename: str) -> None:
    get_redis().delete(_WORKER_KEY.format(nodename))


def live_workers() -> list[str]:
    prefix = _WORKER_KEY.format("")
    names = [key.decode()[len(prefix):] for key in get_redis().scan_iter(match=prefix + "*")]
    return sorted(names)


def host_owner(host_id: int) -> str | None:
    owner = get_redis().get(_OWNER_KEY.format(host_id))
    return owner.decode() if owner else None


def renew_lease(host_id: int, nodename: str) -> bool:
    """Keep the host with `nodename`; False if another worker holds it now."""
    r = get_redis()
    key = _OWNER_KEY.format(host_id)
    if r.set(key, nodename, ex=host_lease_ttl(), nx=True):
        return True
    if r.get(key) == nodename.encode():
        r.expire(key, host_lease_ttl())
        return True
    return False


def assign_hosts(host_ids: list[int]) -> dict[int, str]:
    """Lease every host to a live worker, keeping existing leases; returns host -> worker."""
    r = get_redis()
    workers = live_workers()
    if not workers:
        return {}
    owners = {host_id: host_owner(host_id) for host_id in host_ids}
    load = {worker: 0 for worker in workers}
    for owner in owners.values():
        if owner in load:
            load[owner] += 1
    assignment = {}
    for host_id, owner in owners.items():
        if owner not in load:
            owner = min(load, key=lambda w: (load[w], w))
            r.set(_OWNER_KEY.format(host_id), owner, ex=host_lease_ttl())
            load[owner] += 1
        assignment[host_id] = owner
    return assignment
