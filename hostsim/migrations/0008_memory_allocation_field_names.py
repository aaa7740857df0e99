# The memory allocation fields are named like the resource ("memory_reservation", as
# "cpu_reservation"), so one name per field serves the model, the admin and pools.admission.

from django.db import migrations

RENAMED = ("reservation", "limit", "shares_level", "shares")


class Migration(migrations.Migration):
    dependencies = [
        ("hostsim", "0007_guest_operation_outcome"),
    ]

    operations = [
        migrations.RenameField(
            model_name="virtualmachine", old_name=f"mem_{name}", new_name=f"memory_{name}"
        )
        for name in RENAMED
    ]
