"""Typed readers for environment variables.

Each reader raises ImproperlyConfigured with one clear sentence when a value is malformed, so a
typo in a deployment fails at start-up instead of misbehaving later (after healthchecks'
settings.py helpers). `one_sentence_on_bad_configuration` is how every process of the lab
(manage.py, uvicorn through config.asgi, Celery worker and beat through config.celery) reports
such a value: `vmemlab: <sentence>` on stderr and exit status 1, never a traceback.
"""

import os
import sys
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import redis.connection
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), not {raw!r}.")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be {_range(minimum, maximum)}, not {value}.")
    return value


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"between {minimum} and {maximum}"
    return f"at least {minimum}" if minimum is not None else f"at most {maximum}"


def env_float(
    name: str, default: float, *, minimum: float = 0.0, maximum: float = float("inf")
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {value}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    """A URL whose scheme is one of `schemes` (e.g. {"redis", "rediss"})."""
    raw = os.environ.get(name, default).strip()
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        allowed = ", ".join(sorted(f"{s}://" for s in schemes))
        raise ImproperlyConfigured(f"{name} must be a URL starting with {allowed}, not {raw!r}.")
    return raw


def redis_database(url: str) -> int:
    """The database a Redis URL selects: its path (redis://host/3) or ?db=3 (unix://...), else 0."""
    return int(redis.connection.parse_url(url).get("db") or 0)


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name ("UTC", "Europe/Paris"), checked against the zone database."""
    raw = os.environ.get(name, "").strip() or default
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone name such as UTC or Europe/Paris, not {raw!r}."
        ) from None
    return raw


@contextmanager
def one_sentence_on_bad_configuration() -> Iterator[None]:
    """Turn ImproperlyConfigured raised inside into `vmemlab: <sentence>` and exit status 1."""
    try:
        yield
    except ImproperlyConfigured as exc:
        sys.exit(f"vmemlab: {exc}")
