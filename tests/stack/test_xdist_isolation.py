"""`./lab test` runs the suite on several pytest-xdist workers: each must have its own Redis
database and var/ directory, or one worker's leases, queues and live groups reach another's lab."""

import os

import pytest
from django.conf import settings

from tests.xdist_isolation import GIVEN_REDIS_URL, worker_redis_url


def test_worker_n_uses_the_redis_database_n_above_the_given_one():
    assert worker_redis_url("redis://127.0.0.1:6379/1", 0) == "redis://127.0.0.1:6379/1"
    assert worker_redis_url("redis://127.0.0.1:6379/1", 2) == "redis://127.0.0.1:6379/3"
    assert worker_redis_url("redis://:pw@redis:6380", 1) == "redis://:pw@redis:6380/1"


def test_a_worker_past_redis_s_sixteen_databases_is_refused_with_a_sentence():
    with pytest.raises(RuntimeError, match="would need Redis database 16"):
        worker_redis_url("redis://127.0.0.1:6379/14", 2)


def test_a_redis_url_without_a_database_number_is_refused_with_a_sentence():
    with pytest.raises(RuntimeError, match="redis://host:port/N"):
        worker_redis_url("unix:///run/redis.sock?db=2", 1)


def test_this_worker_runs_on_its_own_databases_and_var_directory(db):
    from django.db import connection

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("not under pytest-xdist (./lab test runs it so)")
    index = int(worker.removeprefix("gw"))
    assert worker_redis_url(GIVEN_REDIS_URL, index) == settings.REDIS_URL
    assert settings.VAR_DIR.name == f"xdist-{worker}"
    assert connection.settings_dict["NAME"].endswith(f"_{worker}")
