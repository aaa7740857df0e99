"""The PerformanceManager counter table and the lab's counters on it (vsphere.perf_counters).

Pure: no database, no server. The table must hold what real clients look up, with vCenter's own
ids, and map only the counters the lab keeps samples of.
"""

from datetime import UTC, datetime, timedelta

import pytest
from pyVmomi import vim

from dashboard.counters import CATALOGUE
from dashboard.stats import StatsQuery
from hostsim.models import INTERVAL_RETENTION, INTERVALS
from vsphere import perf
from vsphere.perf_counters import (
    BY_KEY,
    BY_NAME,
    CATALOGUE_UNITS,
    COUNTERS,
    HISTORICAL_INTERVALS,
    LAB_METRICS,
    metrics_kept,
)

# Every name vmware_exporter 0.18.4 resolves from perfCounter (vmware_exporter.py, the vm and
# host perf_list); one missing name fails its whole scrape with a KeyError.
VMWARE_EXPORTER_NAMES = (
    "cpu.ready.summation",
    "cpu.maxlimited.summation",
    "cpu.usage.average",
    "cpu.usagemhz.average",
    "cpu.costop.summation",
    "cpu.idle.summation",
    "cpu.demand.average",
    "cpu.swapwait.summation",
    "cpu.used.summation",
    "mem.usage.average",
    "mem.consumed.average",
    "mem.active.average",
    "mem.swapped.average",
    "mem.vmmemctl.average",
    "mem.latency.average",
    "mem.swapin.average",
    "mem.swapinRate.average",
    "mem.swapout.average",
    "mem.swapoutRate.average",
    "disk.maxTotalLatency.latest",
    "disk.usage.average",
    "disk.read.average",
    "disk.write.average",
    "net.received.average",
    "net.transmitted.average",
    "net.multicastRx.summation",
    "net.multicastTx.summation",
    "net.broadcastTx.summation",
    "net.broadcastRx.summation",
    "net.droppedRx.summation",
    "net.droppedTx.summation",
    "net.bytesRx.average",
    "net.bytesTx.average",
    "net.errorsRx.summation",
    "net.errorsTx.summation",
    "net.usage.average",
)


def test_every_name_vmware_exporter_looks_up_is_in_the_table():
    assert [name for name in VMWARE_EXPORTER_NAMES if name not in BY_NAME] == []


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("cpu.usage.average", 2),
        ("cpu.ready.summation", 12),
        ("mem.usage.average", 24),
        ("mem.granted.average", 29),
        ("mem.active.average", 33),
        ("mem.shared.average", 37),
        ("mem.zero.average", 41),
        ("mem.sharedcommon.average", 57),
        ("mem.state.latest", 68),
        ("mem.swapped.average", 70),
        ("mem.vmmemctl.average", 90),
        ("mem.consumed.average", 98),
        ("mem.overhead.average", 102),
        ("mem.compressed.average", 105),
        ("mem.latency.average", 422),
        ("mem.entitlement.average", 423),
        ("net.bytesRx.average", 462),
        ("sys.uptime.latest", 155),
    ],
)
def test_counters_keep_the_ids_a_vcenter_gives_them(name, key):
    assert BY_NAME[name].key == key


def test_keys_and_full_names_are_unique_and_every_row_is_described():
    assert len(BY_KEY) == len(BY_NAME) == len(COUNTERS)
    info = perf.COUNTER_INFOS[29]
    assert (info.groupInfo.key, info.nameInfo.key, info.rollupType, info.statsType) == (
        "mem",
        "granted",
        "average",
        "absolute",
    )
    assert (info.nameInfo.label, info.unitInfo.key, info.unitInfo.label) == (
        "Granted",
        "kiloBytes",
        "KB",
    )
    assert (info.level, info.perDeviceLevel) == (2, 3)
    assert all(row.label and row.summary for row in COUNTERS)


def test_the_lab_counters_map_onto_their_vcenter_names_with_the_stored_statistic():
    granted = LAB_METRICS[BY_NAME["mem.granted.maximum"].key]
    assert granted.stat_key == "mem.granted.maximum"
    assert granted.kept_at("pool", 7200) and granted.kept_at("vm", 20)
    for name in (
        "mem.consumed.average",
        "mem.shared.average",
        "mem.active.average",
        "mem.overhead.average",
        "mem.zero.average",
        "mem.vmmemctl.average",
        "mem.swapped.average",
        "mem.usage.average",
    ):
        assert LAB_METRICS[BY_NAME[name].key].stat_key == name
    common = LAB_METRICS[BY_NAME["mem.sharedcommon.average"].key]
    assert common.kept_at("host", 300) and not common.kept_at("vm", 20)


def test_none_and_latest_rollups_are_answered_by_real_time_samples_only():
    granted_none = LAB_METRICS[BY_NAME["mem.granted.none"].key]
    assert granted_none.stat_key == "mem.granted.average"
    assert granted_none.kept_at("vm", 20) and not granted_none.kept_at("vm", 300)
    assert all(
        metric.counter.rollup in ("none", "average")
        for metric in metrics_kept("vm", 20)
        if metric.stat_key == "mem.granted.average"
    )
    assert {m.counter.rollup for m in metrics_kept("vm", 1800)} <= {"average", "minimum", "maximum"}


def test_only_counters_with_samples_are_mapped_and_units_agree_with_the_catalogue():
    mapped = {metric.counter.group for metric in LAB_METRICS.values()}
    assert mapped == {"mem"}  # the lab keeps no cpu, disk or network samples
    for metric in LAB_METRICS.values():
        stored = CATALOGUE[metric.stat_key.rpartition(".")[0]]
        assert CATALOGUE_UNITS[stored.unit] == metric.counter.unit
    assert BY_NAME["cpu.ready.summation"].key not in LAB_METRICS
    assert [m for m in metrics_kept("pool", 20) if m.counter.name == "sharedcommon"] == []


def test_historical_intervals_are_vcenters_four_with_the_labs_retention():
    perf_mgr = vim.PerformanceManager("PerfMgr")
    intervals = perf.performance_manager_property(perf_mgr, "historicalInterval")
    assert [(i.key, i.samplingPeriod, i.name) for i in intervals] == [
        (1, 300, "Past day"),
        (2, 1800, "Past week"),
        (3, 7200, "Past month"),
        (4, 86400, "Past year"),
    ]
    assert [i.length for i in intervals] == [INTERVAL_RETENTION[p] for p in INTERVALS[1:]]
    assert all(i.enabled for i in intervals) and len(HISTORICAL_INTERVALS) == 4


def test_an_unknown_performance_manager_property_is_refused():
    from vsphere.registry import InvalidProperty

    assert len(perf.performance_manager_property(None, "perfCounter")) == len(COUNTERS)
    assert {d.key for d in perf.performance_manager_property(None, "description").statsType} == {
        "absolute",
        "delta",
        "rate",
    }
    with pytest.raises(InvalidProperty):
        perf.performance_manager_property(None, "perfCounter.key")


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _answer(values, interval=20):
    times = [(T0 + timedelta(seconds=interval * i)).isoformat() for i in range(len(values))]
    return {"interval": interval, "timestamps": times, "series": {"mem.granted.average": values}}


def _plan(max_sample=None, csv=False, interval=20):
    metric = LAB_METRICS[BY_NAME["mem.granted.average"].key]
    query = StatsQuery("vm", 1, ("mem.granted.average",), interval)
    return perf.PerfPlan(vim.VirtualMachine("vm-1"), query, ((metric, ""),), max_sample, csv)


def test_a_stats_answer_becomes_an_entity_metric_with_missing_values_as_minus_one():
    metric = perf.entity_metric(_plan(), _answer([1048576, None, 2.6]))
    assert metric.entity == vim.VirtualMachine("vm-1")
    assert [(s.timestamp, s.interval) for s in metric.sampleInfo] == [
        (T0, 20),
        (T0 + timedelta(seconds=20), 20),
        (T0 + timedelta(seconds=40), 20),
    ]
    (series,) = metric.value
    assert (series.id.counterId, series.id.instance) == (29, "")
    assert list(series.value) == [1048576, -1, 3]


def test_max_sample_keeps_the_newest_samples():
    metric = perf.entity_metric(_plan(max_sample=2), _answer([10, 20, 30]))
    assert [s.timestamp for s in metric.sampleInfo] == [
        T0 + timedelta(seconds=20),
        T0 + timedelta(seconds=40),
    ]
    assert list(metric.value[0].value) == [20, 30]


def test_csv_format_pairs_interval_and_time_and_joins_values():
    metric = perf.entity_metric(_plan(csv=True, interval=300), _answer([5.5, 7], interval=300))
    assert metric.sampleInfoCSV == "300,2026-01-01T00:00:00Z,300,2026-01-01T00:05:00Z"
    assert metric.value[0].value == "6,7"


def test_no_samples_give_no_entity_metric():
    assert perf.entity_metric(_plan(), _answer([])) is None
