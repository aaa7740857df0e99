"""/healthz logs a change of the lab's health once, not an ERROR line per polled 503."""

import logging

import pytest

from dashboard import health

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def worker_state(monkeypatch):
    state = {"ok": True}
    monkeypatch.setattr(health, "_redis", lambda: {"ok": True})
    monkeypatch.setattr(health, "_workers", lambda: dict(state))
    monkeypatch.setattr(health, "_beat", lambda: {"ok": True})
    monkeypatch.setattr(health, "_failing", ())
    return state


def test_a_failing_worker_is_one_warning_and_its_return_one_info_line(client, worker_state, caplog):
    caplog.set_level(logging.INFO)
    worker_state["ok"] = False
    assert [client.get("/healthz").status_code for _ in range(3)] == [503, 503, 503]
    worker_state["ok"] = True
    assert client.get("/healthz").status_code == 200
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("dashboard.health", "WARNING", "the lab is unhealthy: worker (no fresh heartbeat)"),
        ("dashboard.health", "INFO", "the lab is healthy again"),
    ]


def test_other_server_errors_still_reach_django_s_request_log():
    from config.log_filters import NotHealthCheckAnswers

    class Request:
        def __init__(self, path):
            self.path = path

    def record(path):
        entry = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", (), None)
        entry.request = Request(path)
        return entry

    keeps = NotHealthCheckAnswers().filter
    assert not keeps(record("/healthz")) and keeps(record("/api/hosts/"))
