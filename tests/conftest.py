"""Fixtures shared by the whole suite: a real Redis, a real Celery worker on it, a live ASGI
server with worker and beat (the whole lab), and a Playwright browser on Debian's chromium.

Tests that need none of these (the engine's, the admission rules') stay fast and database-free.
"""

import os
import shutil

import pytest

from tests.labprocs import CeleryWorkers, Child, child_env, forget_lab_state, start_web

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped, and reported, when DATABASE_URL is not PostgreSQL."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs DATABASE_URL pointing at PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the tests use: REDIS_URL (`./lab test` provides one)."""
    from django.conf import settings

    from hostsim.redis_client import get_redis

    try:
        get_redis().ping()
    except Exception as exc:
        pytest.skip(
            f"needs a Redis at REDIS_URL={settings.REDIS_URL} ({exc}); "
            "run the suite with ./lab test"
        )
    return settings.REDIS_URL


@pytest.fixture
def clean_redis(redis_url):
    """Forget leases, locks and heartbeats left by an earlier test."""
    from hostsim.redis_client import get_redis

    r = get_redis()
    forget_lab_state(r)
    yield r


@pytest.fixture
def celery_workers(transactional_db, clean_redis, tmp_path):
    """Real worker (and beat) processes on the real Redis, sharing the test database."""
    workers = CeleryWorkers(tmp_path, child_env())
    yield workers
    workers.stop_all()


class LiveLab:
    def __init__(self, url: str, web: Child, worker: Child, beat: Child):
        self.url = url
        self.web = web
        self.worker = worker
        self.beat = beat


@pytest.fixture
def live_lab(celery_workers, tmp_path):
    """The whole lab on a free port: uvicorn (ASGI), a Celery worker and beat."""
    web, url = start_web(tmp_path)
    worker, _ = celery_workers.start("lab")
    beat = celery_workers.start_beat()
    yield LiveLab(url, web, worker, beat)
    web.stop()


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    """Playwright driving Debian's chromium (Playwright's own browser downloads fail here).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break later tests that run their own loop (asyncio.run).
    """
    executable = chromium_path()
    if executable is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM runs beside Playwright's loop
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
