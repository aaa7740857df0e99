"""dashboard.stats_cache: the stats answers replayed in front of Django, per client credentials,
until the host stores a sample or who may see what changes (real Redis, the real ASGI app)."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from dashboard_factories import T0, VIEW_PERMS, add_samples
from django.contrib.auth.models import Permission
from django.core.asgi import get_asgi_application
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from dashboard.stats_cache import VERSIONS_HEADER, StatsMicroCache
from hostsim import runtime, sample_versions
from pools import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(redis_url):
    """A fresh cache in front of Django; the test's transaction stays open across requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield StatsMicroCache(get_asgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def call(app, path: str, session: str | None = None, authorization: str | None = None):
    """One GET through `app`: (status, JSON body)."""
    headers = [(b"host", b"localhost"), (b"accept", b"application/json")]
    if session:
        headers.append((b"cookie", f"csrftoken={'a' * 32}; sessionid={session}".encode()))
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("localhost", 80),
    }
    sent = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # no disconnect: Django stops listening once it answered

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {name.lower() for name, _ in sent[0]["headers"]}
    assert VERSIONS_HEADER not in names  # between the view and the cache only
    return sent[0]["status"], json.loads(body) if body else None


def get(app, path: str, session: str | None = None, authorization: str | None = None):
    # From this thread, so Django's views run in it too, inside the test's transaction.
    return async_to_sync(call)(app, path, session, authorization)


def test_a_repeated_poll_is_answered_from_memory_until_the_host_stores_a_sample(
    app, host, vm, viewer
):
    add_samples("vm", vm.pk, host, 3)
    session, path = session_of(viewer), f"/api/vms/{vm.pk}/stats/"
    assert len(get(app, path, session)[1]["timestamps"]) == 3
    add_samples("vm", vm.pk, host, 1, start=T0 + timedelta(seconds=60))  # stored, not announced
    assert len(get(app, path, session)[1]["timestamps"]) == 3  # replayed: Django was not asked
    sample_versions.bump(host.pk)  # what the worker does after a tick's commit
    assert len(get(app, path, session)[1]["timestamps"]) == 4


def primed(app, user, path: str) -> str:
    """A session of `user` whose answer for `path` is kept; returns the session."""
    session = session_of(user)
    assert get(app, path, session)[0] == 200
    return session


def test_a_tick_makes_the_next_poll_see_its_sample(
    app, host, vm, viewer, django_capture_on_commit_callbacks
):
    path = f"/api/vms/{vm.pk}/stats/"
    session = primed(app, viewer, path)
    assert get(app, path, session)[1]["timestamps"] == []
    with django_capture_on_commit_callbacks(execute=True):
        assert runtime.tick(host.pk) == "ticked"
    assert len(get(app, path, session)[1]["timestamps"]) == 1


def test_a_kept_answer_is_never_replayed_to_other_credentials(app, host, vm, viewer, stranger):
    add_samples("vm", vm.pk, host, 3)
    path = f"/api/vms/{vm.pk}/stats/"
    primed(app, viewer, path)
    assert get(app, path, session_of(stranger))[0] == 403  # logged in, no view permission
    assert get(app, path)[0] in (401, 403)  # no credentials at all
    assert get(app, path, authorization="Basic dmlld2VyOndyb25n")[0] == 401  # viewer:wrong
    assert get(app, path, "not-a-session")[0] in (401, 403)


def test_losing_the_permission_or_logging_out_refuses_the_next_poll_at_once(app, host, vm, viewer):
    path = f"/api/vms/{vm.pk}/stats/"
    session = primed(app, viewer, path)
    app_label, codename = VIEW_PERMS[2].split(".")
    viewer.user_permissions.remove(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    assert get(app, path, session)[0] == 403

    host_path = f"/api/hosts/{host.pk}/stats/"
    client = Client()
    client.force_login(viewer)
    session = client.cookies["sessionid"].value
    assert get(app, host_path, session)[0] == 200
    client.logout()
    assert get(app, host_path, session)[0] in (401, 403)


def test_a_deleted_vm_is_a_404_on_the_next_poll(
    app, host, vm, viewer, django_capture_on_commit_callbacks
):
    path = f"/api/vms/{vm.pk}/stats/"
    session = primed(app, viewer, path)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_vm(services.power_off(vm))
    assert get(app, path, session)[0] == 404


def test_identical_polls_that_miss_together_make_one_django_request(app, host, vm, viewer):
    add_samples("vm", vm.pk, host, 3)
    session, path = session_of(viewer), f"/api/vms/{vm.pk}/stats/"
    calls = []
    django = app.app

    async def counting(scope, receive, send):
        calls.append(scope["path"])
        await django(scope, receive, send)

    app.app = counting

    async def poll_together():
        return await asyncio.gather(*(call(app, path, session) for _ in range(5)))

    answers = async_to_sync(poll_together)()
    assert {len(body["timestamps"]) for _, body in answers} == {3}
    assert len(calls) == 1
