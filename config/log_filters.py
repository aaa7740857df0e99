"""Logging filters named in settings.LOGGING (importable before the apps are loaded)."""

import logging

HEALTH_PATH = "/healthz"


class NotHealthCheckAnswers(logging.Filter):
    """Drops django.request's "Service Unavailable: /healthz" records.

    A 503 from /healthz is the endpoint doing its job, asked every few seconds by `./lab up`
    while the lab starts and by the compose health checks: logged at ERROR each time it would bury
    real errors. dashboard.health logs the change of health itself, once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path", None) != HEALTH_PATH
