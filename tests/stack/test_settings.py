"""Settings come from the environment through typed readers that fail with one clear sentence."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_url

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "VMEMLAB_ENV"}}
    full_env.update(env)
    return subprocess.run([sys.executable, *code.split()], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("raw, expected", [("1", True), ("yes", True), ("off", False), ("", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env_bool("FLAG")


def test_env_int_checks_type_and_range(monkeypatch):
    monkeypatch.setenv("N", "abc")
    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="between 1 and 5"):
        env_int("N", 1, minimum=1, maximum=5)
    monkeypatch.setenv("N", "3")
    assert env_int("N", 1, minimum=1, maximum=5) == 3


def test_env_url_checks_the_scheme(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://example")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must be a URL starting with"):
        env_url("REDIS_URL", "redis://x", schemes={"redis"})


def test_a_malformed_variable_stops_manage_py_with_one_sentence():
    result = _run("manage.py check", SIM_SPEED="fast")
    assert result.returncode != 0
    assert "SIM_SPEED must be a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_sentence():
    result = _run("manage.py migrate --check", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "Cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_settings_require_their_variables():
    result = _run("manage.py check", VMEMLAB_ENV="production")
    assert result.returncode != 0
    assert "Production settings need SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings():
    result = _run(
        "manage.py check --deploy --fail-level WARNING",
        VMEMLAB_ENV="production",
        SECRET_KEY="k" * 64 + "-production-secret-with-enough-variety-0123456789",
        ALLOWED_HOSTS="lab.example.com",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/vmemlab",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_env_example_lists_every_variable_the_settings_read():
    import re

    read = set()
    for path in (ROOT / "config").glob("*.py"):
        read |= set(re.findall(r'env_(?:str|bool|int|float|list|url)\(\s*"([A-Z_]+)"', path.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
