"""A version number per host that changes whenever the host's stored samples change.

The worker bumps it after a tick or a fast-forward chunk commits, and after rollups and pruning;
whoever caches an answer read from the samples (dashboard.stats_cache) keeps it only while the
version it was read under is still current. A bump that fails (Redis away) is logged: the caches
then fall back to their age limit.
"""

import logging

from redis.exceptions import RedisError

from hostsim.redis_client import get_redis

log = logging.getLogger(__name__)

KEY = "vmemlab:samples-version:{host_id}"


def key(host_id: int) -> str:
    return KEY.format(host_id=int(host_id))


def bump(host_id: int) -> None:
    try:
        get_redis().incr(key(host_id))
    except RedisError as exc:
        log.warning("host %s: samples version not bumped: %s", host_id, exc)
