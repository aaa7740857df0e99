"""A lost Redis is one WARNING line and its return one INFO line, whoever noticed it and however
often; every other error keeps its traceback (config.log_filters.RedisOutageInOneLine).

tests/stack/test_redis_restart.py checks the same on the real lab's logs."""

import errno
import logging
import re
import threading

import pytest
import redis
from celery.beat import SchedulingError
from kombu.exceptions import OperationalError

from config import log_filters
from tests.labprocs import wait_until

LOGGER = "redis-outage-test"
REFUSED = "Error 111 connecting to 127.0.0.1:6399. Connection refused."
LOST = f"Redis connection lost (ConnectionError: {REFUSED}); retrying until it answers"
BACK = "Redis connection back after "


class Lines(logging.Handler):
    """What a handler with the filter writes: (logger, level, message, with traceback)."""

    def __init__(self):
        super().__init__()
        self.written: list[tuple[str, str, str, bool]] = []

    def emit(self, record):
        name = record.name.removeprefix(f"{LOGGER}.")
        self.written.append((name, record.levelname, record.getMessage(), bool(record.exc_info)))


@pytest.fixture
def lines(monkeypatch):
    """A log of its own (not the process's, whose handlers have the process's filter), through a
    filter whose Redis answers once `lines.redis_answers` is set."""
    monkeypatch.setattr(log_filters, "REDIS_PROBE_INTERVAL", 0.01)
    handler = Lines()
    handler.redis_answers = threading.Event()
    handler.addFilter(log_filters.RedisOutageInOneLine(ping=handler.redis_answers.is_set))
    logger = logging.getLogger(LOGGER)
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(handler)
    yield handler
    handler.redis_answers.set()
    wait_until(lambda: not _outages(), 5, "the filter's thread did not end")
    logger.removeHandler(handler)


def _outages() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "redis-outage"]


def _error(logger: str, message: str, exc: BaseException, *args) -> None:
    """Log `exc` with its traceback, as a caught exception is logged."""
    try:
        raise exc
    except BaseException:
        logging.getLogger(f"{LOGGER}.{logger}").exception(message, *args)


def _broker_error(cause: BaseException) -> SchedulingError:
    """What beat logs when it cannot send a task: kombu's error from the cause, inside beat's."""
    try:
        try:
            raise OperationalError(str(cause)) from cause
        except OperationalError as exc:
            raise SchedulingError(f"Couldn't apply scheduled task tick-hosts: {exc}") from exc
    except SchedulingError as exc:
        return exc


def _back(lines: Lines) -> tuple[str, str, str, bool]:
    """Redis answers again: the line the filter then writes."""
    lines.redis_answers.set()
    wait_until(
        lambda: BACK in lines.written[-1][2], 5, lambda: f"Redis is not back: {lines.written}"
    )
    return lines.written[-1]


def test_an_outage_is_one_warning_and_its_end_one_info_line(lines):
    _error(
        "channels_redis.pubsub",
        "Unexpected exception in receive task",
        redis.ConnectionError(REFUSED),
    )
    _error(
        "config.celery", "worker heartbeat failed", ConnectionRefusedError(errno.ECONNREFUSED, "no")
    )
    logging.getLogger(f"{LOGGER}.celery.worker.consumer.consumer").error(
        "consumer: Cannot connect to %s: %s.\n%s",
        "redis://",
        redis.ConnectionError(REFUSED),
        "Trying",
    )
    _error("celery.beat", "Message Error: %s", _broker_error(redis.TimeoutError("Timeout")), "x")
    back = _back(lines)
    assert lines.written == [("channels_redis.pubsub", "WARNING", LOST, False), back]
    assert back[:2] == ("channels_redis.pubsub", "INFO") and not back[3]
    assert re.fullmatch(
        BACK + r"\d+\.\d s \(3 more failures while it was away, not logged\)",
        back[2],
    )


def test_other_errors_keep_their_traceback_even_while_redis_is_away(lines):
    _error("channels_redis.pubsub", "receive task", redis.ConnectionError(REFUSED))
    try:
        raise redis.ConnectionError(REFUSED)
    except redis.ConnectionError:  # a bug in the code that handles the lost connection
        _error("hostsim.runtime", "tick failed", KeyError("vm"))
    _error("hostsim.runtime", "tick failed", ConnectionResetError(errno.ECONNRESET, "not Redis"))
    _error("celery.beat", "Message Error: %s", _broker_error(TypeError("not serializable")), "x")
    _error("hostsim.runtime", "tick failed", redis.ResponseError("WRONGTYPE"))
    back = _back(lines)
    lost, *others, _ = lines.written
    assert lost[1:] == ("WARNING", LOST, False)
    assert [(level, traceback) for _, level, _, traceback in others] == [("ERROR", True)] * 4
    assert back[2].endswith(" (0 more failures while it was away, not logged)")
