"""Fast-forward jobs in the JSON API: `hosts/{id}/advance/` and `hosts/{id}/advance/{job}/`.

A job is answered as
`{"id", "host", "state", "requestedSeconds", "simulatedSeconds", "progress", "from", "reached",
"cancelRequested", "error", "requestedBy", "created", "started", "finished", "wallSeconds", "url"}`,
state one of queued, running, done, failed, cancelled (vSphere's TaskInfo states, with cancelled).
"""

from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response

from hostsim.models import REALTIME_INTERVAL, AdvanceJob

RECENT_JOBS = 10  # jobs listed by GET hosts/{id}/advance/


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def job_json(job: AdvanceJob, request=None) -> dict:
    path = reverse("host-advance-job", kwargs={"pk": job.host_id, "job_id": job.pk})
    return {
        "id": job.pk,
        "host": job.host_id,
        "state": job.state,
        "requestedSeconds": job.ticks_total * REALTIME_INTERVAL,
        "simulatedSeconds": job.ticks_done * REALTIME_INTERVAL,
        "progress": round(job.progress, 4),
        "from": _iso(job.simulated_from),
        "reached": _iso(job.reached),
        "cancelRequested": job.cancel_requested,
        "error": job.error,
        "requestedBy": job.requested_by,
        "created": _iso(job.created),
        "started": _iso(job.started),
        "finished": _iso(job.finished),
        "wallSeconds": round(job.wall_seconds, 3),
        "url": request.build_absolute_uri(path) if request is not None else path,
    }


def job_response(job: AdvanceJob, request, *, created: bool = False) -> Response:
    """200 for a job that ended, 202 while it is queued or running (Location: the job)."""
    body = job_json(job, request)
    code = status.HTTP_202_ACCEPTED if job.active else status.HTTP_200_OK
    headers = {"Location": body["url"]} if created else None
    return Response(body, status=code, headers=headers)


def conflict_response(job: AdvanceJob, request) -> Response:
    return Response(
        {
            "error": f"This host is already being fast-forwarded (job {job.pk}); wait for it or "
            "cancel it first.",
            "fault": "TaskInProgress",
            "job": job_json(job, request),
        },
        status=status.HTTP_409_CONFLICT,
    )


def recent_jobs(host_id: int, request) -> Response:
    jobs = AdvanceJob.objects.filter(host_id=host_id)[:RECENT_JOBS]
    return Response({"jobs": [job_json(job, request) for job in jobs]})
