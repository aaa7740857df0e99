"""Fast-forward as a job: queued, run in chunks on the worker holding the host, followed,
cancelled, one per host at a time, resumed after its worker is killed.

The API part runs without a worker (a job then waits, queued); the rest runs real Celery workers
on real Redis.
"""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from hostsim import fastforward, routing, runtime
from hostsim.models import AdvanceJob, HostView, Sample
from pools import services
from tests.labprocs import wait_until
from tests.stored_samples import contiguous as _contiguous
from tests.stored_samples import host_times as _timestamps

pytestmark = [pytest.mark.django_db(transaction=True)]

DAY = 86400


def _host(name: str, seed: int = 1):
    host = services.create_host(name=name, memory_mb=4096, cpu_mhz=8000, seed=seed)
    vm = services.create_vm(host, name=f"{name}-vm", memory_mb=512, vcpus=1, workload="webserver")
    services.power_on(vm)
    return host


@pytest.fixture
def operator(db):
    user = User.objects.create_user("operator", password="operator-pass-1")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_host", "change_host"]))
    return user


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


# --- the API, no worker running: a job waits queued ----------------------------------------------


def test_a_fast_forward_is_answered_with_its_job_and_can_be_followed(api, clean_redis):
    host = _host("esxi-ff")
    response = api.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 3600}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["state"] == "queued" and job["requestedSeconds"] == 3600
    assert job["simulatedSeconds"] == 0 and job["progress"] == 0
    assert response["Location"].endswith(f"/api/hosts/{host.pk}/advance/{job['id']}/")

    followed = api.get(f"/api/hosts/{host.pk}/advance/{job['id']}/")
    assert followed.status_code == 202 and followed.json()["id"] == job["id"]
    listed = api.get(f"/api/hosts/{host.pk}/advance/").json()["jobs"]
    assert [item["id"] for item in listed] == [job["id"]]


def test_a_second_fast_forward_of_the_same_host_is_refused_with_the_running_job(api, clean_redis):
    host, other = _host("esxi-ff"), _host("esxi-other")
    first = api.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 3600}, format="json").json()
    second = api.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 60}, format="json")
    assert second.status_code == 409
    body = second.json()
    assert body["fault"] == "TaskInProgress" and body["job"]["id"] == first["id"]
    assert "already being fast-forwarded" in body["error"]
    # Another host is not held up by it.
    assert (
        api.post(f"/api/hosts/{other.pk}/advance/", {"seconds": 60}, format="json").status_code
        == 202
    )


def test_a_queued_fast_forward_can_be_cancelled_and_another_started(api, clean_redis):
    host = _host("esxi-ff")
    job = api.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 3600}, format="json").json()
    cancelled = api.post(f"/api/hosts/{host.pk}/advance/{job['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["finished"]
    assert (
        api.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 60}, format="json").status_code
        == 202
    )


@pytest.mark.parametrize(
    "path",
    ["advance/999/", "advance/999/cancel/", "advance/99999999999999999999999/", "advance/x/"],
)
def test_an_unknown_job_is_a_404_in_json(api, clean_redis, path):
    host = _host("esxi-ff")
    method = api.post if path.endswith("cancel/") else api.get
    response = method(f"/api/hosts/{host.pk}/{path}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_a_job_of_another_host_is_not_found_under_this_one(api, clean_redis):
    host, other = _host("esxi-ff"), _host("esxi-other")
    job = api.post(f"/api/hosts/{other.pk}/advance/", {"seconds": 60}, format="json").json()
    assert api.get(f"/api/hosts/{host.pk}/advance/{job['id']}/").status_code == 404


def test_following_a_job_needs_view_and_cancelling_needs_change_permission(clean_redis):
    host = _host("esxi-ff")
    job = runtime.start_advance(host.pk, 600)
    reader = User.objects.create_user("reader", password="reader-pass-1")
    reader.user_permissions.add(Permission.objects.get(codename="view_host"))
    client = APIClient()
    client.force_authenticate(reader)
    assert client.get(f"/api/hosts/{host.pk}/advance/{job.pk}/").status_code == 202
    assert client.post(f"/api/hosts/{host.pk}/advance/{job.pk}/cancel/").status_code == 403
    assert (
        client.post(f"/api/hosts/{host.pk}/advance/", {"seconds": 60}, format="json").status_code
        == 403
    )
    assert AdvanceJob.objects.get(pk=job.pk).state == "queued"


# --- in-process: the chunks themselves ------------------------------------------------------------


def test_a_job_runs_in_chunks_each_stored_with_its_progress(clean_redis):
    host = _host("esxi-ff")
    job = runtime.start_advance(host.pk, 3600)  # 180 ticks: at least two chunks
    outcomes = []
    while (outcome := runtime.run_advance_chunk(job.pk)) == "more":
        job.refresh_from_db()
        assert job.state == "running"
        assert len(_timestamps(host)) == job.ticks_done  # progress committed with the samples
        # esxtop's screen is stored once per chunk, its last tick's (the Monitor tab follows)
        assert HostView.objects.get(host=host).ts == job.reached
        outcomes.append(outcome)
    runtime.forget(host.pk)
    job.refresh_from_db()
    assert outcome == "done" and outcomes and job.state == "done"
    assert job.ticks_done == 180 and job.reached == _timestamps(host)[-1]
    assert _contiguous(_timestamps(host))
    assert Sample.objects.filter(host=host, interval=300).exists()  # rolled up at the end


def test_a_chunk_that_lost_its_lock_keeps_what_it_stored_and_the_next_one_goes_on(clean_redis):
    host = _host("esxi-ff")
    job = runtime.start_advance(host.pk, 3600)
    with routing.host_lock(host.pk) as lock:
        clean_redis.delete(lock.name)  # as if its TTL ran out mid-chunk and another took it
        assert runtime._run_chunk_locked(job.pk, lock) == "more"
    job.refresh_from_db()
    assert job.state == "running" and len(_timestamps(host)) == job.ticks_done > 0
    while runtime.run_advance_chunk(job.pk) == "more":
        pass
    runtime.forget(host.pk)
    job.refresh_from_db()
    assert job.state == "done" and job.ticks_done == 180
    assert _contiguous(_timestamps(host))


def test_a_cancel_request_stops_a_running_job_at_its_next_chunk(clean_redis):
    host = _host("esxi-ff")
    job = runtime.start_advance(host.pk, DAY)
    assert runtime.run_advance_chunk(job.pk) == "more"
    AdvanceJob.objects.filter(pk=job.pk).update(
        cancel_requested=True
    )  # as cancel_advance while busy
    assert runtime.run_advance_chunk(job.pk) == "cancelled"
    runtime.forget(host.pk)
    job.refresh_from_db()
    assert job.state == "cancelled" and 0 < job.ticks_done < job.ticks_total
    assert len(_timestamps(host)) == job.ticks_done  # what it simulated stays stored


def test_live_ticks_leave_a_host_alone_while_it_is_fast_forwarded(clean_redis):
    host = _host("esxi-ff")
    runtime.start_advance(host.pk, 3600)
    assert runtime.tick(host.pk) == "advancing"
    assert _timestamps(host) == []
    runtime.forget(host.pk)


# --- real workers ---------------------------------------------------------------------------------


@pytest.mark.celery
@pytest.mark.slow
def test_a_long_fast_forward_runs_on_the_worker_while_its_other_hosts_keep_ticking(
    celery_workers,
):
    busy, quiet = _host("esxi-busy", seed=2), _host("esxi-quiet", seed=3)
    _, nodename = celery_workers.start("w1")
    celery_workers.start_beat()
    wait_until(lambda: len(_timestamps(quiet)) >= 2 and _timestamps(busy), 60, "no ticks")
    assert {routing.host_owner(busy.pk), routing.host_owner(quiet.pk)} == {nodename}

    # A day, 4,320 ticks in some 50 chunks: a few seconds of work even for this small host, so that
    # the quiet host's ticks (SIM_SPEED 40: one every 0.5 s) have chunks to come between. (Four
    # hours took 0.7 s once the engine got faster: too short to tell.)
    job = fastforward.request_advance(busy.pk, 24 * 3600)
    quiet_before = len(_timestamps(quiet))
    wait_until(
        lambda: AdvanceJob.objects.get(pk=job.pk).state == "done", 240, "the job did not finish"
    )
    job.refresh_from_db()
    assert job.ticks_done == 4320 and job.wall_seconds > 2
    assert _contiguous(_timestamps(busy))
    # The other host ticked between the chunks (SIM_SPEED 40: a tick every 0.5 s).
    assert len(_timestamps(quiet)) - quiet_before >= max(2, int(job.wall_seconds / 2))


@pytest.mark.celery
@pytest.mark.slow
def test_a_fast_forward_whose_worker_is_killed_resumes_and_completes_exactly(celery_workers):
    host = _host("esxi-ff")
    worker, _ = celery_workers.start("w1")
    celery_workers.start_beat()
    wait_until(lambda: _timestamps(host), 60, "no ticks")
    job = fastforward.request_advance(host.pk, DAY // 2)  # 2160 ticks
    wait_until(lambda: AdvanceJob.objects.get(pk=job.pk).ticks_done >= 200, 120, "no progress")
    worker.kill(9)
    stored = AdvanceJob.objects.get(pk=job.pk).ticks_done
    celery_workers.start("w1")
    wait_until(
        lambda: AdvanceJob.objects.get(pk=job.pk).state == "done", 300, "the job did not resume"
    )
    job.refresh_from_db()
    assert job.ticks_done == job.ticks_total == 2160 and stored < job.ticks_total
    assert _contiguous(_timestamps(host))
