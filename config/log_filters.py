"""Logging filters named in settings.LOGGING (importable before the apps are loaded)."""

import errno
import logging
import threading
import time
from collections.abc import Callable, Iterator

import redis
from kombu.exceptions import OperationalError

HEALTH_PATH = "/healthz"
REDIS_PROBE_INTERVAL = 1.0  # seconds between pings while Redis is away; channels-redis retries
# its subscriptions as often, so the line that Redis is back comes when the live feeds are


class NotHealthCheckAnswers(logging.Filter):
    """Drops django.request's "Service Unavailable: /healthz" records.

    A 503 from /healthz is the endpoint doing its job, asked every few seconds by `./lab up`
    while the lab starts and by the compose health checks: logged at ERROR each time it would bury
    real errors. dashboard.health logs the change of health itself, once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path", None) != HEALTH_PATH


def _is_redis_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _wraps_redis_connection_error(exc: BaseException) -> bool:
    """kombu's error for a broker it cannot reach, or beat's for a task it could not send, when
    what it wraps is a Redis connection error. Any other error is judged by its own type only: a
    bug in code that handles a lost connection is a bug, not the lost connection."""
    from celery.beat import SchedulingError

    return isinstance(exc, OperationalError | SchedulingError) and any(
        _is_redis_connection_error(link) for link in _chain(exc)
    )


def _reported_redis_error(record: logging.LogRecord) -> BaseException | None:
    """The Redis connection error a record reports, as its exception or as an argument of its
    message (Celery's "Cannot connect to %s: %s"), if it reports one."""
    reported = [record.exc_info[1]] if record.exc_info and record.exc_info[1] else []
    if isinstance(record.args, tuple):
        reported += [arg for arg in record.args if isinstance(arg, BaseException)]
    for exc in reported:
        if _is_redis_connection_error(exc) or _wraps_redis_connection_error(exc):
            return exc
    return None


def _ping_redis() -> bool:
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisOutageInOneLine(logging.Filter):
    """While Redis is away, one WARNING line instead of a traceback per failed call; one INFO line
    when it answers again.

    Every part of a process notices a lost Redis on its own and logs it, most with a traceback:
    channels-redis's receiver once a second, Celery's consumer at each retry, a task whose lock
    could not be released, the heartbeats, beat at each task it could not send. The first record
    of an outage becomes "Redis connection lost (...)", the others are counted, not written; a
    thread then pings Redis every REDIS_PROBE_INTERVAL until it answers, and says so with the
    count. Records of any other error pass unchanged, tracebacks included.

    It sits on the handlers (a logger's filters see only that logger's own records), one instance
    per process: settings.LOGGING's console handler, and Celery's handlers (config.celery).
    """

    def __init__(self, ping: Callable[[], bool] = _ping_redis):
        super().__init__()
        self._ping = ping
        self._lock = threading.Lock()
        self._lost_at: float | None = None  # monotonic time of the outage's first record
        self._unlogged = 0

    def filter(self, record: logging.LogRecord) -> bool:
        # By this filter on another handler of the record: the same answer (ids keep the record
        # picklable for a QueueHandler or SocketHandler).
        judged = record.__dict__.setdefault("redis_outage", {})
        if id(self) in judged:
            return judged[id(self)]
        error = _reported_redis_error(record)
        if error is None:
            return True
        with self._lock:
            if self._lost_at is not None:
                self._unlogged += 1
                judged[id(self)] = False
                return False
            self._lost_at = time.monotonic()
            self._unlogged = 0
        judged[id(self)] = True
        record.msg = "Redis connection lost (%s: %s); retrying until it answers"
        record.args = (type(error).__name__, str(error))
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = record.stack_info = None
        threading.Thread(
            target=self._wait_for_redis,
            args=(logging.getLogger(record.name),),
            name="redis-outage",
            daemon=True,
        ).start()
        return True

    def _wait_for_redis(self, logger: logging.Logger) -> None:
        """Ping until Redis answers; say so where its loss was said."""
        while not self._ping():
            time.sleep(REDIS_PROBE_INTERVAL)
        with self._lock:
            seconds, unlogged = time.monotonic() - self._lost_at, self._unlogged
            self._lost_at = None
        logger.info(
            "Redis connection back after %.1f s (%d more failures while it was away, not logged)",
            seconds,
            unlogged,
        )


_redis_outage = RedisOutageInOneLine()


def redis_outage() -> RedisOutageInOneLine:
    """This process's filter, for every handler that writes its log."""
    return _redis_outage
