"""The lab's processes as tests start them: uvicorn, Celery workers and beat on the test database.

Shared by tests/conftest.py's fixtures and by test modules that keep one lab for many tests.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_SIM_SPEED = "40"  # a tick every 0.5 s, so live tests see several samples quickly


def free_port() -> int:
    """A port nothing listens on: one the kernel picks, or one of TEST_PORTS (`18100-18199`) on a
    machine whose other servers the tests must keep clear of."""
    low, _, high = os.environ.get("TEST_PORTS", "").partition("-")
    candidates = [0]
    if low:
        candidates = list(range(int(low), int(high or low) + 1))
        random.shuffle(candidates)  # two pytest-xdist workers seldom try the same one first
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in TEST_PORTS={os.environ['TEST_PORTS']}")


def _database_url() -> str:
    """A DATABASE_URL for child processes, pointing at the test database pytest-django made."""
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    auth = params.get("USER") or ""
    if params.get("PASSWORD"):
        auth += f":{params['PASSWORD']}"
    host = params.get("HOST") or "127.0.0.1"
    port = f":{params['PORT']}" if params.get("PORT") else ""
    return f"postgresql://{auth}{'@' if auth else ''}{host}{port}/{params['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SIM_SPEED=TEST_SIM_SPEED,
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("UVICORN_TIMEOUT_KEEP_ALIVE", "300")  # as ./lab sets it: SOAP clients idle
    env.update(extra)
    return env


class Child:
    """A process of the lab started by a test, stopped (its whole group) at teardown."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = 9) -> None:
        if self.alive():
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(predicate, timeout: float, message, interval: float = 0.1):
    """The predicate's first truthy value; AssertionError(message) after `timeout` seconds.

    `message` may be a callable, for a message that reports what was seen at the end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message() if callable(message) else message)


class CeleryWorkers:
    """Starts real Celery worker processes (solo pool, as `./lab up` runs them)."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.env = env
        self.children: list[Child] = []

    def start(self, name: str | None = None, **extra_env: str) -> tuple[Child, str]:
        from hostsim.routing import live_workers

        nodename = f"{name or 'w' + uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        child = Child(
            f"worker-{nodename.split('@')[0]}-{len(self.children)}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-n",
                nodename,
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            {**self.env, **extra_env},
            self.log_dir,
        )
        self.children.append(child)
        wait_until(
            lambda: nodename in live_workers() or not child.alive(),
            60,
            f"worker {nodename} did not start",
        )
        assert child.alive(), child.output()
        return child, nodename

    def start_beat(self) -> Child:
        child = Child(
            f"beat-{len(self.children)}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(self.log_dir / f"beat-schedule-{len(self.children)}"),
            ],
            self.env,
            self.log_dir,
        )
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()


def start_web(log_dir: Path) -> tuple[Child, str]:
    """uvicorn serving config.asgi on a free port; returns the process and its base URL."""
    port = free_port()
    web = Child(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        child_env(),
        log_dir,
    )
    url = f"http://127.0.0.1:{port}"

    def answers():
        try:
            with urllib.request.urlopen(url + "/accounts/login/", timeout=1):
                return True
        except OSError:
            return not web.alive()

    wait_until(answers, 60, "the ASGI server did not answer")
    assert web.alive(), web.output()
    return web, url


class RedisServer:
    """A redis-server of a test's own on a free port, in memory only, that the test may kill and
    start again on the same port (the suite's Redis is shared by every test process)."""

    def __init__(self, log_dir: Path):
        self.binary = shutil.which("redis-server")
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.starts = 0
        self.child: Child | None = None

    def start(self) -> None:
        import redis

        self.starts += 1
        self.child = Child(
            f"redis-{self.starts}",
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
            ],
            dict(os.environ),
            self.log_dir,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers():
            try:
                return client.ping()
            except redis.ConnectionError:
                return not self.child.alive()

        wait_until(answers, 10, f"redis-server did not start on port {self.port}")
        assert self.child.alive(), self.child.output()

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crashed container ends it: no goodbye to its clients."""
        self.child.kill(9)
        self.child.stop()  # closes its log

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def forget_lab_state(redis) -> None:
    """Drop leases, locks, heartbeats and queued tasks an earlier lab left in Redis."""
    for key in redis.scan_iter(match="vmemlab:*"):
        redis.delete(key)
    redis.delete("celery")
