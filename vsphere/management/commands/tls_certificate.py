from django.conf import settings
from django.core.management.base import BaseCommand

from vsphere.certificate import ensure_certificate


class Command(BaseCommand):
    help = (
        "Make the HTTPS port's self-signed certificate under VAR_DIR (once) and print its and its "
        "key's path."
    )

    def handle(self, *args, **options):
        cert, key = ensure_certificate(settings.VAR_DIR)
        self.stdout.write(f"{cert}\n{key}")
