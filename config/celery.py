"""The Celery app and the beat schedule.

Beat fires the dispatchers on the shared `celery` queue; each dispatcher routes a host's work to
the private queue of the worker that holds that host's engine (see hostsim.runtime). Beat
announces itself with a heartbeat of its own (HostsimBeatScheduler), so /healthz and the compose
health check judge beat by beat, not by whether a worker ran what it sent.
"""

import logging
import os
import time

from celery import Celery, bootsteps
from celery.beat import PersistentScheduler
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    celeryd_init,
)

from config.env import one_sentence_on_bad_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("vmemlab")

BEAT_HEARTBEAT_KEY = "vmemlab:beat:heartbeat"  # epoch seconds of beat's last scheduler pass
BEAT_HEARTBEAT_INTERVAL = 5.0  # seconds: beat wakes at least this often, so it beats this often
BEAT_HEARTBEAT_TTL = 30  # seconds: a beat that stopped leaves no key behind for long


@app.on_configure.connect
def _load_django_settings(sender, **kwargs):
    """Load the settings before Celery reads them, so a bad value is one sentence, not a traceback.

    `celery -A config worker|beat` reads its configuration while parsing its command line; an
    ImproperlyConfigured raised there would end in click's 90-line traceback. Django processes
    (manage.py, uvicorn) have loaded the settings long before Celery's configuration is read.
    """
    from django.conf import settings

    with one_sentence_on_bad_configuration():
        settings.INSTALLED_APPS  # noqa: B018  (touching a setting imports config.settings)


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
    sender.conf.beat_scheduler = "config.celery:HostsimBeatScheduler"


class HostsimBeatScheduler(PersistentScheduler):
    """Celery's file-backed scheduler that also writes beat's heartbeat on every pass.

    Beat's main loop calls tick() at least every `max_interval` seconds, however long the gaps
    between scheduled tasks (a tick every 200 s at SIM_SPEED 0.1), so the heartbeat is fresh
    exactly while beat's loop runs, whether or not a worker is there to run what it sends.
    """

    max_interval = BEAT_HEARTBEAT_INTERVAL

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        self._beat()
        return interval

    def close(self):
        super().close()
        try:
            from hostsim.redis_client import get_redis

            get_redis().delete(BEAT_HEARTBEAT_KEY)  # stopped on purpose: unhealthy at once
        except Exception:
            logging.getLogger(__name__).warning("could not clear beat's heartbeat", exc_info=True)

    def _beat(self):
        from hostsim.redis_client import get_redis

        try:
            get_redis().set(BEAT_HEARTBEAT_KEY, time.time(), ex=BEAT_HEARTBEAT_TTL)
        except Exception:  # Redis away for a moment: /healthz says so; the next pass tries again
            logging.getLogger(__name__).warning("beat heartbeat failed", exc_info=True)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _one_line_per_redis_outage(sender=None, logger=None, **kwargs):
    """Celery replaces the handlers settings.LOGGING gave the root logger with its own (and gives
    its task logger some): each gets the process's Redis outage filter, as the console handler
    has it in the web server."""
    from config.log_filters import redis_outage

    for handler in logger.handlers:
        handler.addFilter(redis_outage())


@celeryd_init.connect
def _require_the_solo_pool(sender, instance, options, **kwargs):
    """A worker keeps each host's live engine in its own process memory (hostsim.runtime), so it
    must run tasks in that process: the solo pool. A prefork or thread pool would give every task
    a different process (or race on one engine), restoring the checkpoint at every tick."""
    pool = options.get("pool") or options.get("pool_cls") or instance.app.conf.worker_pool
    name = pool if isinstance(pool, str) else pool.__module__  # a name, or the pool's class
    kind = name.rsplit(".", 1)[-1].removesuffix(":TaskPool")
    if kind != "solo":
        raise SystemExit(
            f"vmemlab: the worker must run --pool=solo (it holds live host engines in its own "
            f"memory), not {kind}."
        )


@celeryd_after_setup.connect
def _consume_own_host_queue(sender, instance, **kwargs):
    """Each worker also consumes a queue named after itself: hosts it owns are ticked there."""
    from hostsim.routing import worker_queue

    instance.app.amqp.queues.select_add(worker_queue(sender))


class HostsimHeartbeat(bootsteps.StartStopStep):
    """Tell the dispatcher and /healthz that this worker is alive, so it can be given hosts.

    The heartbeat runs in a thread of its own: the solo pool runs tasks on the thread that also
    drives Celery's timer, so a timer-based beat would stop during a long tick or fast-forward and
    the worker's hosts would be taken away while it is busy with them.
    """

    requires = {"celery.worker.components:Timer"}

    def start(self, worker):
        import threading

        from hostsim.routing import HEARTBEAT_INTERVAL, become_worker, worker_heartbeat

        become_worker(worker.hostname)
        self._stopping = threading.Event()

        def beat():
            while not self._stopping.wait(HEARTBEAT_INTERVAL):
                try:
                    worker_heartbeat(worker.hostname)
                except Exception:  # Redis away for a moment: the next beat tries again
                    logging.getLogger(__name__).warning("worker heartbeat failed", exc_info=True)

        self._thread = threading.Thread(target=beat, name="hostsim-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, worker):
        from hostsim.routing import forget_worker

        if getattr(self, "_stopping", None):
            self._stopping.set()
            self._thread.join(timeout=10)
        forget_worker(worker.hostname)


app.steps["worker"].add(HostsimHeartbeat)
