"""Sample.objects.store_new, the one way samples are stored (ticks, fast-forward chunks, rollups):
on PostgreSQL its own INSERT, elsewhere bulk_create; either way the rows bulk_create would store,
and a sample already stored is never duplicated or rewritten."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import TextField
from django.db.models.functions import Cast

from hostsim import models
from hostsim.models import REALTIME_INTERVAL, EntityKind, Host, Sample

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def host():
    return Host.objects.create(name="esxi-store", memory_mb=4096, cpu_mhz=8000)


def _samples(host, ticks: int, granted: int = 1000) -> list[tuple]:
    """A host row and a VM row per tick, with integer, float and zero counters."""
    samples = []
    for tick in range(ticks):
        ts = START + timedelta(seconds=REALTIME_INTERVAL * tick)
        samples.append((EntityKind.HOST, host.pk, ts, {"mem.granted": granted + tick, "x": 0}))
        values = {"mem.granted": 2**53 + tick, "mem.usage": 12.345 + tick, "lab.ratio": 1e-7}
        samples.append((EntityKind.VM, 7, ts, values))
    return samples


def _stored(host, interval: int) -> list[tuple]:
    rows = Sample.objects.filter(host=host, interval=interval).annotate(
        text=Cast("values", TextField())
    )
    return sorted(rows.values_list("entity_kind", "entity_id", "ts", "values", "text"))


def test_store_new_stores_what_bulk_create_stores(host):
    samples = _samples(host, 5)
    Sample.objects.store_new(host.pk, REALTIME_INTERVAL, samples)
    Sample.objects.bulk_create(
        Sample(host=host, entity_kind=kind, entity_id=entity_id, interval=300, ts=ts, values=values)
        for kind, entity_id, ts, values in samples
    )
    stored = _stored(host, REALTIME_INTERVAL)
    assert stored == _stored(host, 300)  # the values as the database holds them, too
    assert [row[:4] for row in stored] == sorted(samples)


def test_a_retried_store_neither_duplicates_nor_rewrites_a_sample(host, monkeypatch):
    monkeypatch.setattr(models, "SAMPLE_BATCH", 3)  # the retry spans several statements
    first = _samples(host, 4)
    Sample.objects.store_new(host.pk, REALTIME_INTERVAL, first)
    retried = _samples(host, 6, granted=5000)  # the same four ticks, other values, and two more
    Sample.objects.store_new(host.pk, REALTIME_INTERVAL, retried)
    stored = [row[:4] for row in _stored(host, REALTIME_INTERVAL)]
    assert stored == sorted(first + retried[len(first) :])
