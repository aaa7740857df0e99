# The memory allocation fields are named like the resource ("memory_reservation", as
# "cpu_reservation"), so one name per field serves the model, the admin and pools.admission.

from django.db import migrations

RENAMED = ("reservation", "limit", "shares_level", "shares", "expandable")


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0002_names_without_control_characters"),
    ]

    operations = [
        migrations.RenameField(
            model_name="resourcepool", old_name=f"mem_{name}", new_name=f"memory_{name}"
        )
        for name in RENAMED
    ]
