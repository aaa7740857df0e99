"""Fast-forward a host where its engine lives.

The worker that holds the host's engine runs the fast-forward, so the simulation continues from
its current state. When no live worker holds the host (no lab running, e.g. `manage.py simulate`
on its own), this process restores the engine from the checkpoint and runs it here.
"""

from celery.exceptions import TimeoutError as CeleryTimeout

from hostsim import routing, runtime, tasks

WAIT_SECONDS = 60  # longest a request waits; a longer fast-forward goes on in the worker


def fast_forward(host_id: int, seconds: int) -> dict:
    owner = routing.host_owner(host_id)
    if owner is None or owner not in routing.live_workers():
        try:
            return {**runtime.advance(host_id, seconds), "status": "done"}
        finally:
            runtime.forget(host_id)  # this process does not own the host: keep no engine here
    result = tasks.advance_host.apply_async(args=[host_id, seconds], queue=routing.worker_queue(owner))
    try:
        outcome = result.get(timeout=WAIT_SECONDS)
    except CeleryTimeout:
        return {"host": host_id, "status": "running", "worker": owner}
    if "error" in outcome:
        raise runtime.HostBusy(outcome["error"])
    return {**outcome, "status": "done"}
