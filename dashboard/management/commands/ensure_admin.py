"""Create the lab's admin login once: from DJANGO_SUPERUSER_USERNAME/PASSWORD, else generated."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PASSWORD_FILE = "admin-password"  # under var/, readable by the owner only


class Command(BaseCommand):
    help = "Create the admin login if it does not exist, and say how to log in."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip() or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        password_file = settings.VAR_DIR / PASSWORD_FILE
        user = User.objects.filter(username=username).first()
        if user is None:
            if not password:
                password = secrets.token_urlsafe(12)
                settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
                password_file.write_text(password + "\n")
                password_file.chmod(0o600)
            User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"lab: created the admin login '{username}'")
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(
                f"lab: updated the password of '{username}' from DJANGO_SUPERUSER_PASSWORD"
            )
        if password:
            shown = (
                "(from DJANGO_SUPERUSER_PASSWORD)"
                if os.environ.get("DJANGO_SUPERUSER_PASSWORD")
                else password
            )
        elif password_file.exists():
            shown = password_file.read_text().strip()
        else:
            shown = "(the password you set earlier)"
        self.stdout.write(f"lab: log in as '{username}' with password {shown}")
