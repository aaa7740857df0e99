"""The Celery app and the beat schedule.

Beat fires the dispatchers on the shared `celery` queue; each dispatcher routes a host's work to
the private queue of the worker that holds that host's engine (see hostsim.runtime).
"""

import os

from celery import Celery, bootsteps
from celery.signals import celeryd_after_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vmemlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule() -> dict:
    from django.conf import settings

    tick_seconds = settings.SAMPLE_INTERVAL / settings.SIM_SPEED
    return {
        "tick-hosts": {
            "task": "hostsim.tasks.dispatch_ticks",
            "schedule": tick_seconds,
            "options": {"expires": tick_seconds},
        },
        "share-scan-hosts": {
            "task": "hostsim.tasks.dispatch_share_scans",
            "schedule": tick_seconds * settings.SIM_SCAN_EVERY_TICKS,
            "options": {"expires": tick_seconds * settings.SIM_SCAN_EVERY_TICKS},
        },
        "rollup-samples": {
            "task": "hostsim.tasks.rollup_samples",
            "schedule": 30.0,
            "options": {"expires": 30.0},
        },
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **kwargs):
    sender.conf.beat_schedule = _beat_schedule()


@celeryd_after_setup.connect
def _consume_own_host_queue(sender, instance, **kwargs):
    """Each worker also consumes a queue named after itself: hosts it owns are ticked there."""
    from hostsim.routing import worker_queue

    instance.app.amqp.queues.select_add(worker_queue(sender))


class HostsimHeartbeat(bootsteps.StartStopStep):
    """Tell the dispatcher this worker is alive, so it can be given hosts to simulate."""

    requires = {"celery.worker.components:Timer"}
    interval = 5.0  # seconds; well inside hostsim.routing.WORKER_HEARTBEAT_TTL

    def start(self, worker):
        from hostsim.routing import worker_heartbeat

        worker_heartbeat(worker.hostname)
        self.tref = worker.timer.call_repeatedly(self.interval, worker_heartbeat, (worker.hostname,))

    def stop(self, worker):
        from hostsim.routing import forget_worker

        if getattr(self, "tref", None):
            self.tref.cancel()
        forget_worker(worker.hostname)


app.steps["worker"].add(HostsimHeartbeat)
