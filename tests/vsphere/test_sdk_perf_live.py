"""PerformanceManager over the wire: pyVmomi against the whole lab (uvicorn, a worker and beat).

The samples are the ones the running simulation stores; what pyVmomi reads from /sdk must be
what the JSON stats API (and so the Performance tab) shows for the same timestamps.
"""

import urllib.parse
from datetime import datetime, timedelta

import pytest
from pyVmomi import vim, vmodl

from hostsim.models import Sample
from tests.labprocs import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.slow]

PM = vim.PerformanceManager
REAL_TIME = ("mem.granted.average", "mem.consumed.average", "mem.usage.average")
ROLLED_UP = ("mem.granted.average", "mem.granted.minimum", "mem.granted.maximum")


def counter_ids(si) -> dict[str, int]:
    counters = si.content.perfManager.perfCounter
    return {f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c.key for c in counters}


def stored(vm_id: int, interval: int) -> int:
    return Sample.objects.filter(entity_kind="vm", entity_id=vm_id, interval=interval).count()


def stats(sdk, vm_id: int, names, **params) -> dict:
    query = urllib.parse.urlencode({"counters": ",".join(names), **params})
    return sdk.api(f"/api/vms/{vm_id}/stats/?{query}")


def query(si, entity, ids, **fields):
    metric_ids = [PM.MetricId(counterId=key, instance="") for key in ids]
    spec = PM.QuerySpec(entity=entity, metricId=metric_ids, **fields)
    return si.content.perfManager.QueryStats(querySpec=[spec])


def as_series(metric) -> dict[int, list[int]]:
    return {series.id.counterId: list(series.value) for series in metric.value}


def test_real_time_and_rolled_up_counters_are_what_the_stats_api_shows(sdk):
    vm_id = sdk.ids["web-01"]
    # Beat rolls the 20 s samples up into 5-minute ones (every 30 s of wall time). Waited for
    # before connecting: the ASGI server closes a keep-alive connection idle for 5 s.
    wait_until(lambda: stored(vm_id, 300) >= 1, 90, "beat rolled up no 5-minute samples")
    si = sdk.connect(https=True)
    entity = sdk.vm(si, "web-01")
    ids = counter_ids(si)
    assert ids["mem.granted.average"] == 29 and ids["cpu.ready.summation"] == 12
    summary = si.content.perfManager.QueryProviderSummary(entity=entity)
    assert (summary.currentSupported, summary.refreshRate) == (True, 20)

    metrics = si.content.perfManager.QueryAvailableMetric(entity=entity, intervalId=20)
    available = {m.counterId for m in metrics}
    assert {ids[name] for name in REAL_TIME} <= available
    assert ids["cpu.ready.summation"] not in available

    (metric,) = query(si, entity, [ids[name] for name in REAL_TIME], intervalId=20, maxSample=5)
    times = [sample.timestamp for sample in metric.sampleInfo]
    assert len(times) == 5
    assert all(b - a == timedelta(seconds=20) for a, b in zip(times, times[1:], strict=False))
    body = stats(
        sdk,
        vm_id,
        REAL_TIME,
        interval=20,
        start=(times[0] - timedelta(seconds=1)).isoformat(),
        end=times[-1].isoformat(),
    )
    assert [datetime.fromisoformat(ts) for ts in body["timestamps"]] == times
    assert as_series(metric) == {ids[name]: body["series"][name] for name in REAL_TIME}
    assert as_series(metric)[ids["mem.granted.average"]][-1] > 0  # the guest has booted

    (metric,) = query(si, entity, [ids[name] for name in ROLLED_UP], intervalId=300)
    newest = metric.sampleInfo[-1].timestamp
    body = stats(sdk, vm_id, ROLLED_UP, interval=300, end=newest.isoformat())
    expected_times = [datetime.fromisoformat(ts) for ts in body["timestamps"]]
    assert [s.timestamp for s in metric.sampleInfo] == expected_times
    assert {s.interval for s in metric.sampleInfo} == {300}
    assert as_series(metric) == {
        ids[name]: [int(v + 0.5) for v in body["series"][name]] for name in ROLLED_UP
    }

    (csv,) = query(
        si, entity, [ids["mem.granted.average"]], intervalId=300, format="csv", endTime=newest
    )
    assert csv.sampleInfoCSV.split(",")[::2] == ["300"] * len(body["timestamps"])
    granted = body["series"]["mem.granted.average"]
    assert csv.value[0].value.split(",") == [str(int(v + 0.5)) for v in granted]


def test_vsphere_faults_reach_the_client(sdk):
    si = sdk.connect()
    entity = sdk.vm(si, "web-01")
    query(si, entity, [29], intervalId=20)  # the same call with a valid interval raises nothing
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        query(si, entity, [29], intervalId=42)
    assert refused.value.invalidProperty == "intervalId"
    with pytest.raises(vmodl.fault.InvalidArgument):
        query(si, entity, [99999])
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        query(si, vim.VirtualMachine("vm-987654", si._stub), [29])
    with pytest.raises(vmodl.fault.InvalidArgument):
        si.content.perfManager.QueryCounterByLevel(level=9)
    assert len(si.content.perfManager.historicalInterval) == 4


def test_the_property_collector_reads_the_performance_manager_as_govc_does(sdk):
    si = sdk.connect()
    collector = vmodl.query.PropertyCollector
    spec = collector.FilterSpec(
        objectSet=[collector.ObjectSpec(obj=si.content.perfManager)],
        propSet=[
            collector.PropertySpec(
                type=vim.PerformanceManager, pathSet=["perfCounter", "historicalInterval"]
            )
        ],
    )
    (content,) = si.content.propertyCollector.RetrieveContents([spec])
    values = {prop.name: prop.val for prop in content.propSet}
    assert [i.samplingPeriod for i in values["historicalInterval"]] == [300, 1800, 7200, 86400]
    names = {f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}" for c in values["perfCounter"]}
    assert {"mem.granted.average", "cpu.ready.summation", "net.bytesRx.average"} <= names
