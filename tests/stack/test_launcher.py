"""The launcher: argument checks answer in one sentence; `up` serves the lab and stops cleanly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "lab"), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_bad_port_is_refused_with_one_sentence(port):
    result = _lab("up", "--port", port)
    assert result.returncode == 2
    assert "the port must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_refused():
    result = _lab("fly")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_an_unreachable_redis_url_is_one_sentence():
    import os

    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, str(ROOT / "lab"), "up", "--port", "8765"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "no Redis answers there" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _processes_with(marker: str) -> list[int]:
    """Pids of processes whose environment carries `marker` (the lab's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_lab_up_serves_the_lab_and_ctrl_c_twice_leaves_no_process_behind(tmp_path):
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    marker = f"VMEMLAB_VAR_DIR={tmp_path}"
    env = dict(os.environ, VMEMLAB_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/lab.sqlite3",
               DJANGO_SUPERUSER_PASSWORD="launcher-test-pw-1")
    lab = subprocess.Popen([sys.executable, str(ROOT / "lab"), "up", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = lab.stdout.readline()
            lines.append(line)
            if "is running at" in line or lab.poll() is not None:
                break
        assert any("is running at" in line for line in lines), "".join(lines[-30:])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
        assert len(_processes_with(marker)) >= 3  # web, worker and beat at least
        lab.send_signal(signal.SIGINT)
        time.sleep(0.2)
        lab.send_signal(signal.SIGINT)  # an impatient second Ctrl-C
        lab.communicate(timeout=90)
    finally:
        if lab.poll() is None:
            lab.kill()
    assert "Traceback" not in "".join(lines)
    assert _processes_with(marker) == []
