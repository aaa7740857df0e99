"""The launcher's argument checks answer in one sentence (the full runs are tried by hand)."""

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
