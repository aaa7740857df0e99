"""docker-compose.yml cannot be run here (no Docker engine), so it is parsed and checked."""

import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_names_every_service_the_lab_needs():
    services = _compose()["services"]
    assert set(services) == {"migrate", "web", "web-https", "worker", "beat", "redis", "postgres"}
    for name in ("web", "web-https", "worker", "beat", "redis", "postgres"):
        assert "test" in services[name]["healthcheck"], f"{name} has no health check"


def test_long_running_services_wait_for_migrations_and_the_databases():
    services = _compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "manage.py migrate" in services["migrate"]["command"]
    for name in ("web", "web-https", "worker", "beat"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )


def test_web_worker_and_beat_share_one_image_and_run_their_process():
    services = _compose()["services"]
    images = {services[name]["image"] for name in ("migrate", "web", "worker", "beat")}
    assert images == {"vmemlab:latest"}
    assert all(services[name]["build"] == "." for name in ("migrate", "web", "worker", "beat"))
    assert "uvicorn config.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A config worker")
    assert services["beat"]["command"].startswith("celery -A config beat")
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_uses_the_variables_documented_in_env_example():
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    environment = _compose()["services"]["web"]["environment"]
    assert set(environment) <= documented
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= set(environment)


def test_the_dockerfile_copies_what_the_image_needs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for part in (
        "config",
        "hostsim",
        "pools",
        "dashboard",
        "vsphere",
        "templates",
        "static",
        "manage.py",
    ):
        assert f"COPY {part}" in dockerfile


def test_the_compose_worker_passes_the_workers_own_pool_check():
    """The worker's command line, read by Celery's own parser, and the options it gives handed to
    the check every worker runs at start (config.celery): it refuses any pool but solo."""
    import click
    from celery.bin.worker import worker

    from config.celery import _require_the_solo_pool, app

    command = shlex.split(_compose()["services"]["worker"]["command"])
    assert command[: command.index("worker")] == ["celery", "-A", "config"]
    arguments = command[command.index("worker") + 1 :]
    options, extra, _ = worker.make_parser(click.Context(worker, info_name="worker")).parse_args(
        arguments
    )
    assert extra == []
    _require_the_solo_pool(None, SimpleNamespace(app=app), options)  # SystemExit: not solo
