"""manage.py bench engine | live: print benchmark figures as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run a benchmark and print its figures as JSON: 'engine' (the simulation) or 'live' (websockets)."

    def add_arguments(self, parser):
        parser.add_argument("which", choices=["engine", "live"])
        parser.add_argument("--quick", action="store_true", help="engine: a small host, for a smoke run")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="live: the running lab")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="")
        parser.add_argument("--clients", type=int, default=200)
        parser.add_argument("--seconds", type=int, default=30)

    def handle(self, *args, which, **options):
        if which == "engine":
            from hostsim.benchmarks import run_engine_benchmark

            params = {"memory_gb": 8, "vms": 4, "vm_memory_gb": 1} if options["quick"] else {}
            result = run_engine_benchmark(**params)
        else:
            from dashboard.benchmarks import run_live_benchmark

            if not 1 <= options["clients"] <= 2000 or not 5 <= options["seconds"] <= 600:
                raise CommandError("--clients must be 1..2000 and --seconds 5..600.")
            result = run_live_benchmark(
                options["url"], options["username"], options["password"],
                clients=options["clients"], seconds=options["seconds"],
            )
        self.stdout.write(json.dumps(result, indent=2))
