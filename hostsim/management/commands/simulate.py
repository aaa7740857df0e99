"""manage.py simulate --host ID --seconds N: fast-forward a host, storing every sample."""

import json

from django.core.management.base import BaseCommand, CommandError

from hostsim import runtime
from hostsim.models import Host


class Command(BaseCommand):
    help = "Fast-forward one host's simulation by N simulated seconds, storing every sample."

    def add_arguments(self, parser):
        parser.add_argument("--host", required=True, help="host id or name")
        parser.add_argument("--seconds", required=True, type=int, help="simulated seconds (>= 20)")

    def handle(self, *args, host, seconds, **options):
        from django.conf import settings

        if not 20 <= seconds <= settings.SIM_ADVANCE_MAX_SECONDS:
            raise CommandError(
                f"--seconds must be between 20 and {settings.SIM_ADVANCE_MAX_SECONDS}."
            )
        found = (
            Host.objects.filter(pk=int(host)) if host.isdigit() else Host.objects.filter(name=host)
        )
        target = found.first()
        if target is None:
            raise CommandError(f"No host {host!r}.")
        try:
            result = runtime.advance(target.pk, seconds)
        except runtime.AdvanceConflict as exc:
            raise CommandError(f"{exc} Cancel it or wait for it to finish.") from None
        self.stdout.write(json.dumps(result))
