#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    from config.env import one_sentence_on_bad_configuration

    # A malformed environment variable is the user's to fix: one sentence, no traceback (the
    # same sentence uvicorn and the Celery worker and beat print).
    with one_sentence_on_bad_configuration():
        try:
            execute_from_command_line(sys.argv)
        except OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            sys.exit(
                f"vmemlab: Cannot use the database ({reason}); "
                "check DATABASE_URL and that the server runs."
            )


if __name__ == "__main__":
    main()
