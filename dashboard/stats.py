"""The stats query behind the charts: one entity's counters over a time range at one interval.

Used by the HTTP stats endpoint (dashboard.api.stats), the Performance page's first render and
the live benchmark. The range follows vSphere's QueryPerf: the start is exclusive and the end
inclusive, so a client that has data up to `t` asks for `start=t` and gets only what is new.
Without a range the answer is the timespan of the interval (an hour of real-time samples, a day
of 5-minute rollups, ... a year of daily ones) ending at the entity's latest sample.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import DateTimeField, ExpressionWrapper, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.utils.dateparse import parse_datetime

from dashboard.counters import UnknownCounter, overview_keys, parse_stat_key
from hostsim.models import INTERVAL_RETENTION, INTERVALS, REALTIME_INTERVAL, Sample

MAX_COUNTERS = 24  # more lines than that make no readable chart; every rollup of 8 counters
MAX_POINTS = 10_000  # per series; far above what retention keeps at any interval (a year is 365)


class StatsQueryError(ValueError):
    """Invalid query parameters: `fields` maps each parameter to what is wrong with it."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {text}" for name, text in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class StatsQuery:
    kind: str  # "vm" | "host" | "pool"
    entity_id: int
    keys: tuple[str, ...]  # "mem.granted.average", ...
    interval: int = REALTIME_INTERVAL
    start: datetime | None = None  # exclusive
    end: datetime | None = None  # inclusive


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _parse_moment(raw: str) -> datetime | None:
    """An ISO 8601 date-time; naive ones are UTC. None when it cannot be read."""
    text = raw.strip()
    candidates = [text]
    if " " in text:
        # "+01:00" arrives as " 01:00" when a client forgot to encode the query string.
        head, _, tail = text.rpartition(" ")
        candidates.append(f"{head}+{tail}")
    for candidate in candidates:
        try:
            moment = parse_datetime(candidate)
        except ValueError:  # well-formed but impossible, e.g. month 13
            moment = None
        if moment is not None:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            try:
                moment = moment.astimezone(UTC)
            except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00
                return None
            # Far enough from datetime's ends that a window of a year around it still exists.
            return moment if EARLIEST <= moment <= LATEST else None
    return None


def parse_query(kind: str, entity_id: int, params: Mapping[str, str]) -> StatsQuery:
    """Read and check `counters`, `interval`, `start` and `end`; raises StatsQueryError."""
    errors: dict[str, str] = {}

    raw_counters = params.get("counters")
    keys: list[str] = []
    if raw_counters is None:
        keys = overview_keys(kind)
    else:
        names = [name.strip() for name in raw_counters.split(",") if name.strip()]
        if not names:
            errors["counters"] = "Name at least one counter, e.g. mem.granted.average."
        elif len(dict.fromkeys(names)) > MAX_COUNTERS:
            errors["counters"] = f"At most {MAX_COUNTERS} counters per request."
        else:
            for name in dict.fromkeys(names):
                try:
                    parse_stat_key(name, kind)
                except UnknownCounter as exc:
                    errors["counters"] = str(exc)
                    break
                keys.append(name)

    interval = REALTIME_INTERVAL
    raw_interval = params.get("interval")
    if raw_interval is not None:
        text = raw_interval.strip()
        if not (text.isascii() and text.isdigit()) or int(text) not in INTERVALS:
            errors["interval"] = (
                f"Interval must be one of {', '.join(map(str, INTERVALS))} (seconds), "
                f"not {raw_interval[:40]!r}."
            )
        else:
            interval = int(text)

    moments: dict[str, datetime | None] = {"start": None, "end": None}
    for name in moments:
        raw = params.get(name)
        if raw is None or not raw.strip():
            continue
        moment = _parse_moment(raw[:64])
        if moment is None:
            errors[name] = f"Not an ISO 8601 date and time between 1970 and 9000: {raw[:40]!r}."
        else:
            moments[name] = moment
    start, end = moments["start"], moments["end"]
    if start is not None and end is not None:
        if start >= end:
            errors["end"] = "The end must be after the start."
        elif "interval" not in errors and (end - start).total_seconds() / interval > MAX_POINTS:
            errors["interval"] = (
                f"That range holds more than {MAX_POINTS} samples at {interval} s: "
                f"choose a longer interval or a shorter range."
            )

    if errors:
        raise StatsQueryError(errors)
    return StatsQuery(kind, int(entity_id), tuple(keys), interval, start, end)


def latest_sample_time(kind: str, entity_id: int, interval: int) -> datetime | None:
    """The entity's newest sample at `interval` (the unique index answers it)."""
    return (
        Sample.objects.filter(entity_kind=kind, entity_id=entity_id, interval=interval)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )


def _numbers(column: list) -> list:
    """A series as numbers, from what the database handed back for one counter.

    PostgreSQL's `->>` gives a JSON number's own text ("1103460", "0.25") and SQLite's
    JSON_EXTRACT the number itself; both join into one JSON array, read by a single C-level
    `json.loads` instead of decoding every row's whole `values` object in Python.
    """
    text = ",".join("null" if value is None else str(value) for value in column)
    try:
        return json.loads(f"[{text}]")
    except ValueError:  # a value that is not a number (never written by the engine): keep it
        return [_one_value(value) for value in column]


def _one_value(value):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def run_query(query: StatsQuery) -> dict:
    """`{"interval", "start", "end", "timestamps": [ISO, oldest first], "series": {key: [...]}}`.

    A counter missing from a stored row gives null at that time. One query in the usual cases:
    without an end, the newest sample bounds the range inside the same statement.
    """
    realtime = query.interval == REALTIME_INTERVAL
    # Real-time rows store "mem.granted"; rolled-up rows store "mem.granted.average".
    stored_as = [key.rpartition(".")[0] if realtime else key for key in query.keys]
    rows = Sample.objects.filter(
        entity_kind=query.kind, entity_id=query.entity_id, interval=query.interval
    )
    start, end = query.start, query.end
    retention = timedelta(seconds=INTERVAL_RETENTION[query.interval])
    if end is not None:
        rows = rows.filter(ts__lte=end, ts__gt=start if start is not None else end - retention)
    elif start is not None:
        rows = rows.filter(ts__gt=start)  # up to the newest sample, whatever it is
    else:
        newest = Subquery(rows.order_by("-ts").values("ts")[:1])
        rows = rows.filter(
            ts__gt=ExpressionWrapper(newest - Value(retention), output_field=DateTimeField())
        )
    if start is not None and end is not None and start >= end:
        columns: list[tuple] = []
    else:
        fields = [KeyTextTransform(name, "values") for name in stored_as]
        fetched = list(rows.order_by("ts").values_list("ts", *fields))
        columns = list(zip(*fetched, strict=True)) if fetched else []
    times = columns[0] if columns else ()
    if end is None:
        newest = times[-1] if times else None
        end = newest or latest_sample_time(query.kind, query.entity_id, query.interval)
    if start is None and end is not None:
        start = end - retention
    series = {
        key: _numbers(list(columns[index + 1])) if columns else []
        for index, key in enumerate(query.keys)
    }
    return {
        "interval": query.interval,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "timestamps": [ts.isoformat() for ts in times],
        "series": series,
    }


def latest_values(kind: str, entity_id: int) -> tuple[datetime | None, dict]:
    """The newest real-time sample of one entity: (time, {"mem.granted": KB, ...})."""
    row = (
        Sample.objects.filter(entity_kind=kind, entity_id=entity_id, interval=REALTIME_INTERVAL)
        .order_by("-ts")
        .values_list("ts", "values")
        .first()
    )
    return row if row else (None, {})


def latest_tick(host_id: int) -> tuple[datetime | None, dict[tuple[str, int], dict]]:
    """Every real-time row of the host's newest tick: (time, {(kind, id): values})."""
    ts = latest_sample_time("host", host_id, REALTIME_INTERVAL)
    if ts is None:
        return None, {}
    rows = Sample.objects.filter(host_id=host_id, interval=REALTIME_INTERVAL, ts=ts).values_list(
        "entity_kind", "entity_id", "values"
    )
    return ts, {(kind, entity_id): values for kind, entity_id, values in rows}
