"""Celery entry points: ids in, one runtime call, nothing else.

Ticks and scans are routed to the queue of the worker that holds the host (hostsim.routing) and
expire after one interval: a tick that could not run in time is dropped, never queued up.
"""

from celery import shared_task
from django.conf import settings

from hostsim import fastforward, routing, runtime
from hostsim.models import Host
from hostsim.rollups import rollup_host


def _send_to_owners(task, interval: float) -> dict[int, str]:
    host_ids = list(Host.objects.values_list("pk", flat=True))
    assignment = routing.assign_hosts(host_ids)
    for host_id, worker in assignment.items():
        task.apply_async(args=[host_id], queue=routing.worker_queue(worker), expires=interval)
    return assignment


@shared_task(ignore_result=True)
def dispatch_ticks() -> dict[int, str]:
    assignment = _send_to_owners(tick_host, settings.SAMPLE_INTERVAL / settings.SIM_SPEED)
    fastforward.resume_stalled_jobs()
    return assignment


@shared_task(ignore_result=True)
def dispatch_share_scans() -> dict[int, str]:
    interval = settings.SAMPLE_INTERVAL / settings.SIM_SPEED * settings.SIM_SCAN_EVERY_TICKS
    return _send_to_owners(share_scan_host, interval)


@shared_task(bind=True, ignore_result=True)
def tick_host(self, host_id: int) -> str:
    if not routing.renew_lease(host_id, self.request.hostname):
        return "not mine"
    return runtime.tick(host_id)


@shared_task(bind=True, ignore_result=True)
def share_scan_host(self, host_id: int) -> str:
    if routing.host_owner(host_id) != self.request.hostname:
        return "not mine"
    return runtime.share_scan(host_id)


@shared_task(ignore_result=True)
def rollup_samples() -> dict[int, dict[int, int]]:
    return {host_id: rollup_host(host_id) for host_id in Host.objects.values_list("pk", flat=True)}


@shared_task(bind=True, ignore_result=True)
def advance_chunk(self, job_id: int) -> str:
    """One chunk of a fast-forward; the next chunk goes to the back of the owner's queue, so the
    ticks of the worker's other hosts run in between."""
    outcome = runtime.run_advance_chunk(job_id)
    if outcome == "more":
        fastforward.send_chunk(job_id)
    return outcome
