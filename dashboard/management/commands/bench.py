"""manage.py bench engine | live | advance | sdk | sharing: print benchmark figures as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Run a benchmark and print its figures as JSON: 'engine' (the simulation), 'live' "
        "(websockets and pollers against a running lab), 'advance' (a simulated day of a demo "
        "host), 'sdk' (a pyVmomi client against a running lab's /sdk) or 'sharing' (page sharing "
        "against the published results)."
    )

    def add_arguments(self, parser):
        parser.add_argument("which", choices=["engine", "live", "advance", "sdk", "sharing"])
        parser.add_argument(
            "--quick",
            action="store_true",
            help=(
                "engine: a small host; advance: a simulated hour; sharing: fewer, shorter runs "
                "(smoke runs)"
            ),
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="live, sdk: the running lab"
        )
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="")
        parser.add_argument("--clients", type=int, default=200)
        parser.add_argument("--seconds", type=int, default=30)
        parser.add_argument(
            "--pollers",
            type=int,
            default=0,
            help="live: stats API clients polling as fast as they can beside the websockets",
        )

    def handle(self, *args, which, **options):
        if which == "sdk":
            from vsphere.benchmark import run_sdk_benchmark

            result = run_sdk_benchmark(options["url"], options["username"], options["password"])
        elif which == "advance":
            from dashboard.advance_benchmark import DAY_S, run_advance_benchmark

            result = run_advance_benchmark(3600 if options["quick"] else DAY_S)
        elif which == "sharing":
            from hostsim.sharing_benchmark import run_sharing_benchmark

            result = run_sharing_benchmark(quick=options["quick"])
        elif which == "engine":
            from hostsim.benchmarks import run_engine_benchmark

            params = {"memory_gb": 8, "vms": 4, "vm_memory_gb": 1} if options["quick"] else {}
            result = run_engine_benchmark(**params)
        else:
            from dashboard.benchmarks import run_live_benchmark

            if not 1 <= options["clients"] <= 2000 or not 5 <= options["seconds"] <= 600:
                raise CommandError("--clients must be 1..2000 and --seconds 5..600.")
            if not 0 <= options["pollers"] <= 1000:
                raise CommandError("--pollers must be 0..1000.")
            result = run_live_benchmark(
                options["url"],
                options["username"],
                options["password"],
                clients=options["clients"],
                seconds=options["seconds"],
                pollers=options["pollers"],
            )
        self.stdout.write(json.dumps(result, indent=2))
