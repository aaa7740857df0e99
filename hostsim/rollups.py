"""Roll real-time samples up into vCenter's statistics intervals, and prune by retention.

Each level aggregates the one below it over complete buckets only, keeping the average, minimum
and maximum of every counter (vSphere Monitoring and Performance, "Data Collection Intervals").
A rolled-up sample is stamped with the end of its bucket, as vCenter stamps its samples.
Re-running is harmless: buckets already stored are skipped.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hostsim import sample_versions
from hostsim.models import INTERVAL_RETENTION, INTERVALS, REALTIME_INTERVAL, EntityKind, Sample

ROLLUP_LEVELS = tuple(pairwise(INTERVALS))  # (source, target): each level from the one below
STATS = ("average", "minimum", "maximum")


def _bucket_end(ts: datetime, width: int) -> datetime:
    seconds = int(ts.timestamp())
    return datetime.fromtimestamp(-(-seconds // width) * width, tz=UTC)


def _latest(host_id: int, interval: int) -> datetime | None:
    return (
        Sample.objects.filter(host_id=host_id, entity_kind=EntityKind.HOST, interval=interval)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )


def _as_stats(values: dict, realtime: bool) -> dict[str, tuple[float, float, float]]:
    """Counter name -> (average, minimum, maximum) of one stored row."""
    if realtime:
        return {name: (v, v, v) for name, v in values.items()}
    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for key, value in values.items():
        name, _, stat = key.rpartition(".")
        stats[name][STATS.index(stat)] = value
    return {name: tuple(triple) for name, triple in stats.items()}


def _aggregate(rows: list[dict], realtime: bool) -> dict:
    per_counter: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for values in rows:
        for name, triple in _as_stats(values, realtime).items():
            per_counter[name].append(triple)
    out = {}
    for name, triples in per_counter.items():
        out[f"{name}.average"] = round(sum(t[0] for t in triples) / len(triples), 2)
        out[f"{name}.minimum"] = min(t[1] for t in triples)
        out[f"{name}.maximum"] = max(t[2] for t in triples)
    return out


def rollup_host(host_id: int) -> dict[int, int]:
    """Store every complete bucket not yet rolled up; returns rows written per interval."""
    written = {}
    for source, target in ROLLUP_LEVELS:
        latest_source = _latest(host_id, source)
        if latest_source is None:
            break
        end = datetime.fromtimestamp(int(latest_source.timestamp()) // target * target, tz=UTC)
        start = _latest(host_id, target)
        rows = Sample.objects.filter(host_id=host_id, interval=source, ts__lte=end)
        if start is not None:
            rows = rows.filter(ts__gt=start)
        buckets: dict[tuple[str, int, datetime], list[dict]] = defaultdict(list)
        for kind, entity_id, ts, values in rows.values_list(
            "entity_kind", "entity_id", "ts", "values"
        ):
            buckets[(kind, entity_id, _bucket_end(ts, target))].append(values)
        Sample.objects.store_new(
            host_id,
            target,
            [
                (kind, entity_id, ts, _aggregate(values, realtime=source == REALTIME_INTERVAL))
                for (kind, entity_id, ts), values in buckets.items()
            ],
        )
        written[target] = len(buckets)
    if prune_host(host_id) or any(written.values()):
        sample_versions.bump(host_id)
    return written


def prune_host(host_id: int) -> int:
    """Drop samples older than their interval's retention, measured from the host's clock."""
    clock = _latest(host_id, REALTIME_INTERVAL)
    if clock is None:
        return 0
    deleted = 0
    for interval, keep in INTERVAL_RETENTION.items():
        cutoff = clock - timedelta(seconds=keep)
        deleted += Sample.objects.filter(
            host_id=host_id, interval=interval, ts__lt=cutoff
        ).delete()[0]
    return deleted
