"""Each pytest-xdist worker gets its own Redis database and var/ directory.

Loaded with `-p` (pyproject.toml's addopts), so it runs before pytest-django reads the settings.
The database needs nothing here: pytest-django names each worker's test database test_<name>_gwN.
Worker gwN uses Redis database base+N (the base is REDIS_URL's): the broker's queues, the channel
layer's groups, the leases and heartbeats of one worker's lab are invisible to the others'. Its
own var/ keeps the TLS certificate each lab makes from being written by two workers at once.
"""

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # redis-server's default `databases`


def worker_redis_url(url: str, index: int) -> str:
    parts = urlsplit(url)
    number = parts.path.strip("/") or "0"
    if parts.scheme not in {"redis", "rediss"} or not number.isdigit():
        raise RuntimeError(
            f"pytest-xdist workers need REDIS_URL as redis://host:port/N, not {url!r}"
        )
    base = int(number)
    db = base + index
    if db >= REDIS_DATABASES:
        raise RuntimeError(
            f"pytest-xdist worker {index} would need Redis database {db}; "
            f"start from a lower one in REDIS_URL ({url}) or run fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{db}"))


GIVEN_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # before the change
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _index = int(_worker.removeprefix("gw"))
    os.environ["REDIS_URL"] = worker_redis_url(GIVEN_REDIS_URL, _index)
    _var = os.environ.get("VMEMLAB_VAR_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var"
    )
    os.environ["VMEMLAB_VAR_DIR"] = os.path.join(_var, f"xdist-{_worker}")
    # Go's build cache is safe to share, and building govmomi twice would cost a minute.
    os.environ.setdefault("GOCACHE", os.path.join(_var, "go-cache"))
