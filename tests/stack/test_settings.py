"""Settings come from the environment through typed readers that fail with one clear sentence."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_time_zone, env_url

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return _run_argv(code.split(), **env)


def _run_argv(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    unset = {"DATABASE_URL", "REDIS_URL", "VMEMLAB_ENV"}
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


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
    assert (
        "Production settings need SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL"
        in result.stderr
    )


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
        read |= set(
            re.findall(
                r'env_(?:str|bool|int|float|list|url|time_zone)\(\s*"([A-Z_]+)"', path.read_text()
            )
        )
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"


PRODUCTION = {
    "VMEMLAB_ENV": "production",
    "SECRET_KEY": "k" * 64 + "-production-secret-with-enough-variety-0123456789",
    "ALLOWED_HOSTS": "lab.example.com",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/vmemlab",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}

# Every process of the lab, as ./lab and docker-compose.yml start it.
PROCESSES = {
    "manage.py": "manage.py check",
    "uvicorn": "-m uvicorn config.asgi:application --port 1",
    "celery worker": "-m celery -A config worker --pool=solo",
    "celery beat": "-m celery -A config beat",
}


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize(
    "variable, value, sentence",
    [
        ("TIME_ZONE", "Not/AZone", "vmemlab: TIME_ZONE must be an IANA time zone name"),
        ("SIM_SPEED", "abc", "vmemlab: SIM_SPEED must be a number, not 'abc'."),
    ],
)
def test_every_process_stops_on_a_bad_value_with_one_sentence(process, variable, value, sentence):
    result = _run(PROCESSES[process], **{variable: value})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(sentence), lines[:5]


@pytest.mark.parametrize("hosts", [",", " , ,"])
def test_production_refuses_allowed_hosts_that_name_no_host(hosts):
    result = _run("manage.py check", **{**PRODUCTION, "ALLOWED_HOSTS": hosts})
    assert result.returncode == 1
    assert "vmemlab: ALLOWED_HOSTS must name at least one host" in result.stderr


def test_a_fast_forward_is_bounded_to_31_days():
    result = _run("manage.py check", SIM_ADVANCE_MAX_SECONDS=str(31 * 24 * 3600 + 1))
    assert result.returncode == 1
    assert "SIM_ADVANCE_MAX_SECONDS must be between 20 and 2678400" in result.stderr


def test_a_bound_without_a_maximum_reads_as_a_sentence(monkeypatch):
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match=r"^N must be at least 1, not 0\.$"):
        env_int("N", 5, minimum=1)


@pytest.mark.parametrize(
    "raw, expected", [("Europe/Paris", "Europe/Paris"), ("", "UTC"), (" UTC ", "UTC")]
)
def test_time_zone_accepts_iana_names_and_defaults_when_blank(monkeypatch, raw, expected):
    monkeypatch.setenv("TZ_NAME", raw)
    assert env_time_zone("TZ_NAME", "UTC") == expected


@pytest.mark.parametrize("raw", ["Not/AZone", "../../etc/passwd", "Mars/Olympus"])
def test_time_zone_refuses_what_the_zone_database_does_not_know(monkeypatch, raw):
    monkeypatch.setenv("TZ_NAME", raw)
    with pytest.raises(ImproperlyConfigured, match="TZ_NAME must be an IANA time zone name"):
        env_time_zone("TZ_NAME", "UTC")


def test_plain_http_in_production_gets_exactly_the_documented_https_warnings():
    result = _run("manage.py check --deploy", **{**PRODUCTION, "HTTPS": "false"})
    warned = set(re.findall(r"\(security\.(W\d+)\)", result.stdout + result.stderr))
    assert warned == {"W004", "W008", "W012", "W016"}
    documented = (ROOT / ".env.example").read_text() + (ROOT / "README.md").read_text()
    assert all(code in documented for code in warned)


def test_production_trusts_the_proxy_header_it_is_told_and_refuses_a_malformed_one():
    code = "manage.py shell -c"
    shown = (
        "from django.conf import settings; "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    assert (
        _run_argv([*code.split(), shown], **PRODUCTION)
        .stdout.strip()
        .endswith("('HTTP_X_FORWARDED_PROTO', 'https')")
    )
    direct = _run_argv([*code.split(), shown], **{**PRODUCTION, "SECURE_PROXY_SSL_HEADER": ""})
    assert direct.stdout.strip().endswith("None")  # uvicorn serves TLS itself: trust no header
    bad = _run("manage.py check", **{**PRODUCTION, "SECURE_PROXY_SSL_HEADER": "X-Proto: https"})
    assert bad.returncode == 1
    assert "vmemlab: SECURE_PROXY_SSL_HEADER must be a header name" in bad.stderr
