"""The launcher: argument checks answer in one sentence; `up` serves the lab, restarts the worker,
beat or web server that dies, gives up on one that cannot start, and stops cleanly.

The tests below that run `./lab up` start the real thing (uvicorn, Celery workers and beat) on a
free port. They use REDIS_URL of the test run and, when DATABASE_URL is PostgreSQL, that database
(not pytest-django's test database: the lab migrates and seeds it as `./lab up` would), else a
SQLite file of their own. The tests that share one running lab are in the order they need.
"""

import functools
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import redis

from tests.labprocs import forget_lab_state, wait_until

pytestmark = [pytest.mark.slow]  # each test runs ./lab; most start the whole lab

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300  # seconds for `./lab up` to be ready: install check, migrate, seed, start
RECOVERY_TIMEOUT = 150  # seconds for a restarted process to be ticking again (generous: a lock
# of the killed worker is taken over by its restart at once, but the machine may be busy)


def _lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "lab"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_bad_port_is_refused_with_one_sentence(port):
    result = _lab("up", "--port", port)
    assert result.returncode == 2
    assert "the port must be" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["two", "0", "1000"])
def test_a_bad_number_of_workers_is_refused_with_one_sentence(workers):
    result = _lab("up", "--workers", workers)
    assert result.returncode == 2
    assert "the number of workers must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_refused():
    result = _lab("fly")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_an_unreachable_redis_url_is_one_sentence():
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run(
        [sys.executable, str(ROOT / "lab"), "up", "--port", "8765"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "no Redis answers there" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# --- running `./lab up` ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_with(marker: str, *, argv_part: str = "") -> list[int]:
    """Pids of processes whose environment carries `marker` (the lab's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes() and (
                argv_part.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _children_of(pid: int) -> list[int]:
    """Direct children of `pid`, found by their parent pid (Redis rewrites its environment)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


_wait_until = functools.partial(wait_until, interval=0.5)


class LabRun:
    """One `./lab up` started by a test, its output in a file, its processes findable."""

    def __init__(self, var_dir: Path, *args: str, sigint_ignored: bool = False, **extra_env: str):
        self.var_dir = var_dir
        self.port = _free_port()
        self.https_port = _free_port()
        self.marker = f"VMEMLAB_VAR_DIR={var_dir}"
        self.username = "launcher-test"
        self.password = secrets.token_urlsafe(16)
        database = os.environ.get("DATABASE_URL", "")
        if not database.startswith(("postgres://", "postgresql://", "pgsql://")):
            database = f"sqlite:///{var_dir}/lab.sqlite3"
        env = dict(
            os.environ,
            VMEMLAB_VAR_DIR=str(var_dir),
            DATABASE_URL=database,
            DJANGO_SUPERUSER_USERNAME=self.username,
            DJANGO_SUPERUSER_PASSWORD=self.password,
            **extra_env,
        )
        if os.environ.get("REDIS_URL"):  # start as on a fresh machine: no leases of an earlier lab
            forget_lab_state(redis.Redis.from_url(os.environ["REDIS_URL"]))
        self.log = var_dir / "lab.log"
        self._log_file = self.log.open("w")
        # `nohup ./lab up &` starts the launcher with SIGINT ignored; so does this, when asked.
        ignore_sigint = (
            (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "lab"),
                "up",
                "--port",
                str(self.port),
                "--https-port",
                str(self.https_port),
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=ignore_sigint,
        )
        self.seen: set[int] = set()  # every process of this lab seen so far, restarted ones too
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def launcher_lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if line.startswith("lab: ")]

    def wait_until_running(self) -> None:
        _wait_until(
            lambda: "is running at" in self.output() or self.process.poll() is not None,
            START_TIMEOUT,
            "./lab up did not start in time",
        )
        assert "is running at" in self.output(), self.output()[-4000:]
        self.note_processes()

    def note_processes(self) -> list[int]:
        found = _processes_with(self.marker) + _children_of(self.process.pid)
        self.seen.update(found)
        return found

    def pids(self, argv_part: str) -> list[int]:
        found = _processes_with(self.marker, argv_part=argv_part)
        self.seen.update(found)
        return found

    def redis(self) -> redis.Redis:
        url = os.environ.get("REDIS_URL") or (self.var_dir / "redis.url").read_text().strip()
        return redis.Redis.from_url(url)

    def get(self, path: str) -> tuple[int, object]:
        token = b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Basic {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except OSError:  # the web server is being restarted
            return 0, None

    def healthy(self) -> bool:
        return self.get("/healthz")[0] == 200

    def host_ids(self) -> list[int]:
        status, hosts = self.get("/api/hosts/")
        assert status == 200, status
        hosts = hosts["results"] if isinstance(hosts, dict) else hosts
        return [host["id"] for host in hosts]

    def latest_sample(self, host_id: int) -> str | None:
        """The timestamp of the host's newest stored real-time sample (ISO 8601)."""
        status, stats = self.get(f"/api/hosts/{host_id}/stats/?counters=mem.granted.average")
        return stats["end"] if status == 200 else None

    def wait_for_a_sample_after(self, host_id: int, after: str | None, timeout: float) -> str:
        def newer():
            latest = self.latest_sample(host_id)
            return latest if latest and (after is None or latest > after) else None

        return _wait_until(
            newer,
            timeout,
            lambda: f"host {host_id} got no new sample after {after}:\n" + self.output()[-4000:],
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.seen | set(_processes_with(self.marker)):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._log_file.close()

    def leftovers(self) -> list[int]:
        return sorted(pid for pid in self.seen | set(_processes_with(self.marker)) if _alive(pid))


def test_lab_up_serves_the_lab_and_ctrl_c_twice_leaves_no_process_behind(tmp_path):
    lab = LabRun(tmp_path)
    try:
        lab.wait_until_running()
        assert lab.healthy()
        assert (
            len(lab.note_processes()) >= 5
        )  # web over HTTP and HTTPS, a worker per core and beat at least
        tls = ssl.create_default_context(
            cafile=str(tmp_path / "tls-cert.pem")
        )  # its self-signed certificate
        with urllib.request.urlopen(
            f"https://localhost:{lab.https_port}/sdk/vimServiceVersions.xml",
            context=tls,
            timeout=10,
        ) as answer:
            assert b"urn:vim25" in answer.read()
        lab.process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        lab.process.send_signal(signal.SIGINT)  # an impatient second Ctrl-C
        assert lab.process.wait(timeout=90) == 0
    finally:
        lab.stop()
    assert "Traceback" not in lab.output()
    assert lab.leftovers() == []


def test_a_worker_that_fails_at_every_start_makes_the_lab_give_up_leaving_no_process(tmp_path):
    # A setting Celery's worker command rejects at every start (it reads CELERY_WORKER_* from the
    # environment); web and beat do not read it.
    lab = LabRun(tmp_path, "--workers", "1", CELERY_WORKER_CONCURRENCY="lots")
    try:
        code = lab.process.wait(timeout=START_TIMEOUT)
    finally:
        lab.stop()
    lines = lab.launcher_lines()
    assert code == 1, lab.output()[-4000:]
    for restart, delay in enumerate([1, 2, 4, 8], start=1):
        assert (
            f"lab: worker lab1 exited with code 2; restarting it in {delay} s (restart {restart})"
            in lines
        )
    assert lines[-1].startswith("lab: error: worker lab1 exited 5 times within 5 minutes"), lines
    assert "Traceback" not in lab.output()
    assert lab.leftovers() == []


@pytest.fixture(scope="module")
def running_lab(tmp_path_factory):
    """One `./lab up --workers 2` for the tests below, started with SIGINT ignored (as `nohup`
    does); the last of them stops it with SIGINT."""
    lab = LabRun(tmp_path_factory.mktemp("lab"), "--workers", "2", sigint_ignored=True)
    try:
        lab.wait_until_running()
        yield lab
    finally:
        lab.stop()


def _owners(lab: LabRun) -> dict[int, str]:
    r = lab.redis()
    owners = {host_id: r.get(f"vmemlab:host:{host_id}:owner") for host_id in lab.host_ids()}
    return {host_id: owner.decode() for host_id, owner in owners.items() if owner}


def test_two_workers_start_and_the_hosts_are_spread_over_both(running_lab):
    lab = running_lab
    hostname = socket.gethostname()
    assert len(lab.pids(" worker --pool=solo -n lab1@")) == 1
    assert len(lab.pids(" worker --pool=solo -n lab2@")) == 1
    owners = _wait_until(
        lambda: (o := _owners(lab)) and len(o) == len(lab.host_ids()) and o,
        60,
        "not every host was leased to a worker",
    )
    assert set(owners.values()) == {f"lab1@{hostname}", f"lab2@{hostname}"}


def _kill_and_see_it_restarted(lab: LabRun, name: str, argv_part: str, restart: int) -> None:
    """kill -9 the lab's process `name`; the launcher logs its restart and starts it again."""
    [pid] = lab.pids(argv_part)
    os.kill(pid, signal.SIGKILL)
    said = f"lab: {name} exited with code -9 (SIGKILL); restarting it in"

    def restart_lines():
        return [text for text in lab.launcher_lines() if text.startswith(said)]

    _wait_until(
        lambda: len(restart_lines()) == restart, 60, lambda: "\n".join(lab.launcher_lines())
    )
    assert restart_lines()[-1].endswith(f"(restart {restart})")
    _wait_until(
        lambda: [p for p in lab.pids(argv_part) if p != pid], 60, f"{name} was not started again"
    )


def test_a_worker_killed_twice_is_restarted_each_time_and_its_host_ticks_on(running_lab):
    lab = running_lab
    host_id, owner = sorted(_owners(lab).items())[0]
    for restart in (1, 2):
        before = lab.latest_sample(host_id)
        _kill_and_see_it_restarted(
            lab, f"worker {owner.split('@')[0]}", f" worker --pool=solo -n {owner}", restart
        )
        _wait_until(lab.healthy, RECOVERY_TIMEOUT, "/healthz did not answer 200 again")
        # The host's samples carry on: the restarted worker (or the other one) ticks it.
        lab.wait_for_a_sample_after(host_id, lab.latest_sample(host_id) or before, RECOVERY_TIMEOUT)
    assert lab.process.poll() is None


def test_beat_killed_is_restarted_and_the_ticks_resume(running_lab):
    lab = running_lab
    host_id = lab.host_ids()[0]
    _kill_and_see_it_restarted(lab, "beat", " beat ", 1)
    # Only beat dispatches ticks. A tick the old beat queued may still run once (until it expires
    # a tick interval later), so a second new sample is what proves the new beat dispatches.
    first = lab.wait_for_a_sample_after(host_id, lab.latest_sample(host_id), RECOVERY_TIMEOUT)
    lab.wait_for_a_sample_after(host_id, first, RECOVERY_TIMEOUT)
    assert lab.healthy()


def test_sigint_stops_a_lab_started_with_sigint_ignored_and_leaves_no_process(running_lab):
    lab = running_lab
    assert lab.process.poll() is None
    lab.note_processes()
    lab.process.send_signal(signal.SIGINT)
    assert lab.process.wait(timeout=90) == 0
    assert "lab: stopping every process the lab started" in lab.output()
    assert not any(text.startswith("lab: error") for text in lab.launcher_lines())
    assert lab.leftovers() == []
