"""Checkpoints are Zstandard already: PostgreSQL stores the snapshot column as it is (STORAGE
EXTERNAL: out of line, not compressed again), which took about a third off writing the demo
host's 24 MB checkpoint. Other databases have no such setting and are left as they are."""

from django.db import migrations

TABLE, COLUMN = "hostsim_checkpoint", "engine_state"


def _set_storage(storage: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} SET STORAGE {storage}"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("hostsim", "0010_vm_power_on_count"),
    ]

    operations = [
        migrations.RunPython(_set_storage("EXTERNAL"), _set_storage("EXTENDED")),
    ]
