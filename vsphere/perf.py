"""PerformanceManager: the counter table, the statistics intervals and QueryPerf.

Every answer comes from the stored samples through dashboard.stats, the same query the JSON stats
API runs: the window rules (start exclusive, end inclusive, an interval's timespan when no range
is given) are written once, there. This module turns a PerfQuerySpec into such a query and its
answer into PerfEntityMetric or PerfEntityMetricCSV, raising the faults vCenter raises.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pyVmomi import vim

from dashboard.stats import EARLIEST, LATEST, StatsQuery, run_query
from hostsim.models import INTERVALS, REALTIME_INTERVAL, Sample
from vsphere import inventory, morefs, soap
from vsphere.perf_counters import (
    BY_KEY,
    COUNTERS,
    GROUPS,
    HISTORICAL_INTERVALS,
    LAB_METRICS,
    ROLLUP_TYPES,
    STATS_TYPES,
    UNITS,
    LabMetric,
    PerfCounter,
    metrics_kept,
)
from vsphere.registry import Call, InvalidProperty, method, properties

PM = vim.PerformanceManager
FORMATS = ("normal", "csv")  # PerfFormat
MISSING = -1  # QueryPerf's value for a sample that has no value of the counter
ALL_INSTANCES = "*"
AGGREGATE = ""  # the lab keeps no per-device instances (vCPUs, NICs, disks)


# The perf providers: a VM, a host (as its HostSystem or its ComputeResource) and a pool.
_PERF_KINDS = {
    "VirtualMachine": "vm",
    "HostSystem": "host",
    "ComputeResource": "host",
    "ResourcePool": "pool",
}


def _entity(mo) -> tuple[str, object]:
    """(kind, row) of a perf provider the user may see (the inventory applies the view
    permissions, as the JSON stats API does); ManagedObjectNotFound otherwise."""
    kind = _PERF_KINDS.get(morefs.type_name(mo))
    if kind is None:
        raise morefs.not_found(mo)
    return kind, inventory.current().get(mo)


def _description(key: str, label: str, summary: str) -> vim.ElementDescription:
    return vim.ElementDescription(key=key, label=label, summary=summary)


def counter_info(counter: PerfCounter) -> PM.CounterInfo:
    return PM.CounterInfo(
        key=counter.key,
        nameInfo=_description(counter.name, counter.label, counter.summary),
        groupInfo=_description(counter.group, GROUPS[counter.group], GROUPS[counter.group]),
        unitInfo=_description(counter.unit, *UNITS[counter.unit]),
        rollupType=counter.rollup,
        statsType=counter.stats_type,
        level=counter.level,
        perDeviceLevel=counter.per_device_level,
    )


COUNTER_INFOS: dict[int, PM.CounterInfo] = {c.key: counter_info(c) for c in COUNTERS}


def historical_intervals() -> list:
    return [
        vim.HistoricalInterval(
            key=interval.key,
            samplingPeriod=interval.sampling_period,
            name=interval.name,
            length=interval.length,
            level=interval.level,
            enabled=True,
        )
        for interval in HISTORICAL_INTERVALS
    ]


def performance_description() -> vim.PerformanceDescription:
    return vim.PerformanceDescription(
        counterType=[_description(key, *words) for key, words in ROLLUP_TYPES.items()],
        statsType=[_description(key, *words) for key, words in STATS_TYPES.items()],
    )


@properties("PerformanceManager")
def performance_manager_property(mo, path: str):
    if path == "perfCounter":
        return PM.CounterInfo.Array(COUNTER_INFOS.values())
    if path == "historicalInterval":
        return vim.HistoricalInterval.Array(historical_intervals())
    if path == "description":
        return performance_description()
    raise InvalidProperty(path)


def checked_interval(interval_id: int | None) -> int:
    """The interval a query reads: the real-time 20 s when none is given (PerfQuerySpec)."""
    if interval_id is None:
        return REALTIME_INTERVAL
    if interval_id not in INTERVALS:
        raise soap.invalid_argument(
            "intervalId",
            f"intervalId must be one of {', '.join(map(str, INTERVALS))}, not {interval_id}.",
        )
    return interval_id


def _utc(moment: datetime | None) -> datetime | None:
    """A client's time as UTC, held where a window of retention around it still exists."""
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return min(max(moment.astimezone(UTC), EARLIEST), LATEST)
    except OverflowError:  # 0001-01-01 east of UTC, or 9999-12-31 west of it: before or after all
        return EARLIEST if moment.year < 5000 else LATEST


@dataclass(frozen=True)
class PerfPlan:
    """A checked PerfQuerySpec: what to ask dashboard.stats and how to shape the answer."""

    entity: object  # the managed object reference the client named
    query: StatsQuery
    metrics: tuple[tuple[LabMetric, str], ...]  # (counter, instance to report) in asked order
    max_sample: int | None
    csv: bool


def _asked_metrics(spec, kind: str, interval: int) -> tuple[tuple[LabMetric, str], ...]:
    if not spec.metricId:  # none named: everything the entity has (PerfQuerySpec.metricId)
        return tuple((metric, AGGREGATE) for metric in metrics_kept(kind, interval))
    asked: list[tuple[LabMetric, str]] = []
    for metric_id in spec.metricId:
        if metric_id.counterId not in BY_KEY:
            raise soap.invalid_argument(
                "metricId", f"No performance counter has id {metric_id.counterId}."
            )
        metric = LAB_METRICS.get(metric_id.counterId)
        instance = metric_id.instance or AGGREGATE
        # A counter without samples here, or a device instance, has no series: vCenter leaves
        # such metrics out of the answer rather than failing the query.
        if metric is None or not metric.kept_at(kind, interval):
            continue
        if instance in (AGGREGATE, ALL_INSTANCES):
            asked.append((metric, AGGREGATE))
    return tuple(dict.fromkeys(asked))


def plan_query(spec) -> PerfPlan:
    """Check one PerfQuerySpec; raises the fault vCenter gives for it."""
    if spec.entity is None:
        raise soap.invalid_argument("entity", "Each querySpec names an entity.")
    kind, obj = _entity(spec.entity)
    interval = checked_interval(spec.intervalId)
    fmt = spec.format or "normal"
    if fmt not in FORMATS:
        raise soap.invalid_argument(
            "format", f"format must be 'normal' or 'csv', not {fmt[:40]!r}."
        )
    if spec.maxSample is not None and spec.maxSample < 1:
        raise soap.invalid_argument(
            "maxSample", f"maxSample must be at least 1, not {spec.maxSample}."
        )
    start, end = _utc(spec.startTime), _utc(spec.endTime)
    if start is not None and end is not None and start > end:
        raise soap.invalid_argument("startTime", "startTime must not be after endTime.")
    metrics = _asked_metrics(spec, kind, interval)
    keys = tuple(dict.fromkeys(metric.stat_key for metric, _ in metrics))
    # maxSample limits real-time answers only; historical intervals ignore it (PerfQuerySpec).
    max_sample = spec.maxSample if interval == REALTIME_INTERVAL else None
    query = StatsQuery(kind, obj.pk, keys, interval, start, end)
    return PerfPlan(spec.entity, query, metrics, max_sample, fmt == "csv")


def _long(value) -> int:
    """A stored number as QueryPerf's xsd:long (rolled-up averages are stored with decimals)."""
    return MISSING if value is None else math.floor(value + 0.5)  # half up, never to even


def entity_metric(plan: PerfPlan, answer: dict, sample_infos: dict | None = None):
    """dashboard.stats' answer as PerfEntityMetric (or CSV); None when there is nothing to say.

    `sample_infos` lets the entities of one call share their PerfSampleInfo objects: VMs of a
    host have the same timestamps, and 64 VMs x 180 samples would build 11,520 of them.
    """
    times = [datetime.fromisoformat(ts) for ts in answer["timestamps"]]
    first = 0 if plan.max_sample is None else max(0, len(times) - plan.max_sample)
    times = times[first:]
    if not times or not plan.metrics:
        return None
    series = [
        (
            PM.MetricId(counterId=metric.counter.key, instance=instance),
            [_long(value) for value in answer["series"][metric.stat_key][first:]],
        )
        for metric, instance in plan.metrics
    ]
    interval = answer["interval"]
    if plan.csv:
        sample_info = ",".join(f"{interval},{ts.strftime('%Y-%m-%dT%H:%M:%SZ')}" for ts in times)
        return PM.EntityMetricCSV(
            entity=plan.entity,
            sampleInfoCSV=sample_info,
            value=[PM.MetricSeriesCSV(id=i, value=",".join(map(str, v))) for i, v in series],
        )
    infos = {} if sample_infos is None else sample_infos
    for ts in times:
        if (ts, interval) not in infos:
            infos[(ts, interval)] = PM.SampleInfo(timestamp=ts, interval=interval)
    return PM.EntityMetric(
        entity=plan.entity,
        sampleInfo=[infos[(ts, interval)] for ts in times],
        value=[PM.IntSeries(id=id_, value=values) for id_, values in series],
    )


@method("PerformanceManager", "QueryPerf")
def query_perf(call: Call):
    plans = [plan_query(spec) for spec in call.args.get("querySpec") or []]
    results: list = []
    sample_infos: dict = {}
    for plan in plans:
        if not plan.metrics:
            continue
        metric = entity_metric(plan, run_query(plan.query), sample_infos)
        if metric is not None:
            results.append(metric)
    return PM.EntityMetricBase.Array(results)


def _entity_arg(call: Call):
    """The `entity` parameter, which pyVmomi's client always sends; a bare SOAP call may not."""
    entity = call.args.get("entity")
    if entity is None:
        raise soap.invalid_argument("entity", "Name the entity, e.g. a VirtualMachine.")
    return entity


@method("PerformanceManager", "QueryAvailablePerfMetric")
def query_available_perf_metric(call: Call):
    kind, obj = _entity(_entity_arg(call))
    interval = checked_interval(call.args.get("intervalId"))
    begin, end = _utc(call.args.get("beginTime")), _utc(call.args.get("endTime"))
    if begin is not None and end is not None and begin > end:
        raise soap.invalid_argument("beginTime", "beginTime must not be after endTime.")
    samples = Sample.objects.filter(entity_kind=kind, entity_id=obj.pk, interval=interval)
    if begin is not None:
        samples = samples.filter(ts__gte=begin)
    if end is not None:
        samples = samples.filter(ts__lte=end)
    if not samples.exists():
        return PM.MetricId.Array([])
    return PM.MetricId.Array(
        PM.MetricId(counterId=metric.counter.key, instance=AGGREGATE)
        for metric in metrics_kept(kind, interval)
    )


@method("PerformanceManager", "QueryPerfProviderSummary")
def query_perf_provider_summary(call: Call):
    entity = _entity_arg(call)
    _entity(entity)
    # Hosts sample every 20 s; VMs and pools are summed from the same ticks.
    return PM.ProviderSummary(
        entity=entity, currentSupported=True, summarySupported=True, refreshRate=REALTIME_INTERVAL
    )


@method("PerformanceManager", "QueryPerfCounter")
def query_perf_counter(call: Call):
    keys = list(call.args.get("counterId") or [])
    unknown = [key for key in keys if key not in COUNTER_INFOS]
    if unknown:
        raise soap.invalid_argument("counterId", f"No performance counter has id {unknown[0]}.")
    return PM.CounterInfo.Array(COUNTER_INFOS[key] for key in keys)


@method("PerformanceManager", "QueryPerfCounterByLevel")
def query_perf_counter_by_level(call: Call):
    level = call.args.get("level")
    if level not in (1, 2, 3, 4):
        raise soap.invalid_argument("level", f"level must be 1, 2, 3 or 4, not {level}.")
    # A statistics level collects every counter of that level and below.
    return PM.CounterInfo.Array(COUNTER_INFOS[c.key] for c in COUNTERS if c.level <= level)
