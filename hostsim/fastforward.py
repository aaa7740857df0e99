"""Fast-forward a host where its engine lives, as a job (hostsim.models.AdvanceJob).

`request_advance` queues the job and sends its first chunk to the worker that holds the host (or
leases the host to a live worker first), so the simulation continues from the engine's current
state. Each chunk queues the next one behind the worker's other work. A job whose chunks stopped
coming (its worker was killed) is resumed by the tick dispatcher on the host's current owner.
Without any live worker a job waits, queued, until one starts.
"""

from datetime import timedelta

from django.utils import timezone

from hostsim import routing, runtime
from hostsim.models import AdvanceJob

REPLY_WAIT_SECONDS = 5.0  # a request waits this long for a short job to finish, then answers 202
STALLED_AFTER = timedelta(seconds=15)  # no progress for this long: its chunk was lost


def send_chunk(job_id: int) -> bool:
    """Queue the job's next chunk on the owner of its host; False if no worker is alive."""
    from hostsim.tasks import advance_chunk

    job = AdvanceJob.objects.filter(pk=job_id).only("host_id").first()
    if job is None:
        return False
    owner = routing.HostLease(job.host_id).live_owner()
    if owner is None:
        owner = routing.assign_hosts([job.host_id]).get(job.host_id)
    if owner is None:
        return False
    advance_chunk.apply_async(args=[job_id], queue=routing.worker_queue(owner))
    return True


def request_advance(host_id: int, seconds: int, requested_by: str = "") -> AdvanceJob:
    """Queue a fast-forward and start it; AdvanceConflict if the host has one already."""
    job = runtime.start_advance(host_id, seconds, requested_by)
    send_chunk(job.pk)
    return job


def wait_briefly(job: AdvanceJob, seconds: float = REPLY_WAIT_SECONDS) -> AdvanceJob:
    """The job once it ended, or as it stands after `seconds`: short jobs answer in one request."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        job.refresh_from_db()
        if not job.active or time.monotonic() >= deadline:
            return job
        time.sleep(0.1)


def resume_stalled_jobs() -> list[int]:
    """Send a chunk for every active job that made no progress lately; returns their ids."""
    stalled = AdvanceJob.objects.filter(
        state__in=AdvanceJob.ACTIVE, updated__lt=timezone.now() - STALLED_AFTER
    ).values_list("pk", flat=True)
    resumed = [job_id for job_id in stalled if send_chunk(job_id)]
    if resumed:  # mark them touched, so the next dispatch does not send them again at once
        AdvanceJob.objects.filter(pk__in=resumed).update(updated=timezone.now())
    return resumed
