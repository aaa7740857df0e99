"""PerformanceManager's methods against stored samples, called as the /sdk dispatcher calls them.

No server: each handler gets a registry.Call with pyVmomi-typed arguments, as pyVmomi's
deserializer hands them over. Answers are compared with the JSON stats API for the same entity,
interval and range, which runs the same query (dashboard.stats).
"""

from datetime import timedelta

import pytest
from django.test import Client
from pyVmomi import vim, vmodl

from tests.dashboard.dashboard_factories import (
    VIEW_PERMS,
    add_samples,
    make_host,
    make_user,
    make_vm,
    root_pool,
)
from vsphere import inventory
from vsphere.perf_counters import BY_NAME
from vsphere.registry import METHODS, Call

pytestmark = pytest.mark.django_db

PM = vim.PerformanceManager
PERF_MGR = PM("PerfMgr")
GRANTED = BY_NAME["mem.granted.average"].key
GRANTED_MAX = BY_NAME["mem.granted.maximum"].key
GRANTED_NONE = BY_NAME["mem.granted.none"].key
USAGE = BY_NAME["mem.usage.average"].key
CPU_READY = BY_NAME["cpu.ready.summation"].key


@pytest.fixture
def host(db):
    return make_host()


@pytest.fixture
def vm(host):
    return make_vm(host, "web01", memory_mb=2048)


@pytest.fixture
def viewer(db):
    return make_user("viewer", *VIEW_PERMS)


def call(name: str, viewer, **args):
    import vsphere.perf  # noqa: F401 -- registers the PerformanceManager handlers

    with inventory.scope(viewer):  # as the endpoint runs every call: what `viewer` may see
        return METHODS[("PerformanceManager", name)](Call(user=viewer, this=PERF_MGR, args=args))


def query(viewer, *specs):
    return list(call("QueryPerf", viewer, querySpec=list(specs)))


def spec(entity, *counter_ids, instance="", **fields):
    metric_ids = [PM.MetricId(counterId=key, instance=instance) for key in counter_ids]
    return PM.QuerySpec(entity=entity, metricId=metric_ids or None, **fields)


def stats_api(viewer, kind, entity_id, **params):
    client = Client()
    client.force_login(viewer)
    response = client.get(f"/api/{kind}s/{entity_id}/stats/", params)
    assert response.status_code == 200, response.content
    return response.json()


def series_of(metric) -> dict[int, list[int]]:
    return {series.id.counterId: list(series.value) for series in metric.value}


def test_real_time_query_without_a_range_is_the_last_hour_the_stats_api_gives(host, vm, viewer):
    add_samples("vm", vm.pk, host, 200)  # more than the hour real-time keeps
    (metric,) = query(viewer, spec(vim.VirtualMachine(f"vm-{vm.pk}"), GRANTED, intervalId=20))
    body = stats_api(viewer, "vm", vm.pk, counters="mem.granted.average")
    assert [s.timestamp.isoformat() for s in metric.sampleInfo] == body["timestamps"]
    assert len(body["timestamps"]) == 180
    assert series_of(metric) == {GRANTED: body["series"]["mem.granted.average"]}
    assert metric.entity == vim.VirtualMachine(f"vm-{vm.pk}")


def test_max_sample_one_gives_the_newest_real_time_sample_of_every_counter(host, vm, viewer):
    times = add_samples("vm", vm.pk, host, 10)
    (metric,) = query(
        viewer,
        spec(
            vim.VirtualMachine(f"vm-{vm.pk}"),
            GRANTED,
            GRANTED_NONE,
            USAGE,
            intervalId=20,
            maxSample=1,
        ),
    )
    assert [s.timestamp for s in metric.sampleInfo] == [times[-1]]
    assert series_of(metric) == {GRANTED: [100_009], GRANTED_NONE: [100_009], USAGE: [13]}


def test_start_is_exclusive_and_end_inclusive_as_in_the_stats_api(host, vm, viewer):
    times = add_samples("vm", vm.pk, host, 30)
    entity = vim.VirtualMachine(f"vm-{vm.pk}")
    (metric,) = query(viewer, spec(entity, GRANTED, startTime=times[5], endTime=times[9]))
    body = stats_api(
        viewer,
        "vm",
        vm.pk,
        counters="mem.granted.average",
        start=times[5].isoformat(),
        end=times[9].isoformat(),
    )
    assert [s.timestamp for s in metric.sampleInfo] == times[6:10]
    assert series_of(metric)[GRANTED] == body["series"]["mem.granted.average"]
    assert body["series"]["mem.granted.average"] == [100_006 + i for i in range(4)]


def test_rolled_up_intervals_answer_their_stored_statistics_and_ignore_max_sample(host, vm, viewer):
    def rolled(step):
        return {
            "mem.granted.average": 1000.5 + step,
            "mem.granted.minimum": 900 + step,
            "mem.granted.maximum": 1100 + step,
        }

    times = add_samples("vm", vm.pk, host, 10, interval=1800, values=rolled)
    add_samples("vm", vm.pk, host, 5)  # real-time rows stay out of the 30-minute answer
    entity = vim.VirtualMachine(f"vm-{vm.pk}")
    (metric,) = query(
        viewer, spec(entity, GRANTED, GRANTED_MAX, GRANTED_NONE, intervalId=1800, maxSample=1)
    )
    body = stats_api(
        viewer, "vm", vm.pk, interval=1800, counters="mem.granted.average,mem.granted.maximum"
    )
    assert [s.timestamp.isoformat() for s in metric.sampleInfo] == body["timestamps"]
    assert [s.timestamp for s in metric.sampleInfo] == times
    assert all(s.interval == 1800 for s in metric.sampleInfo)
    # The real-time-only `none` rollup has no series at 1800 s; averages become whole KB.
    assert series_of(metric) == {
        GRANTED: [1001 + step for step in range(10)],
        GRANTED_MAX: body["series"]["mem.granted.maximum"],
    }


def test_instance_star_answers_the_aggregate_and_counters_without_samples_are_left_out(
    host, vm, viewer
):
    add_samples("vm", vm.pk, host, 3)
    entity = vim.VirtualMachine(f"vm-{vm.pk}")
    (metric,) = query(viewer, spec(entity, GRANTED, CPU_READY, instance="*"))
    assert [(s.id.counterId, s.id.instance) for s in metric.value] == [(GRANTED, "")]
    assert query(viewer, spec(vim.VirtualMachine(f"vm-{vm.pk}"), GRANTED, instance="vmnic0")) == []


def test_without_metric_ids_every_kept_counter_of_the_entity_is_answered(host, vm, viewer):
    add_samples(
        "host", host.pk, host, 2, values=lambda step: {"mem.granted": 7, "mem.sharedcommon": 3}
    )
    (metric,) = query(viewer, spec(vim.HostSystem(f"host-{host.pk}")))
    values = series_of(metric)
    assert values[BY_NAME["mem.sharedcommon.average"].key] == [3, 3]
    assert values[GRANTED] == [7, 7]
    assert values[BY_NAME["mem.consumed.average"].key] == [-1, -1]  # not in these rows


def test_csv_format_answers_the_same_samples(host, vm, viewer):
    times = add_samples("vm", vm.pk, host, 3)
    (metric,) = query(viewer, spec(vim.VirtualMachine(f"vm-{vm.pk}"), GRANTED, format="csv"))
    assert isinstance(metric, PM.EntityMetricCSV)
    assert metric.sampleInfoCSV == ",".join(f"20,{ts:%Y-%m-%dT%H:%M:%SZ}" for ts in times)
    assert metric.value[0].value == "100000,100001,100002"


def test_a_pool_and_a_compute_resource_are_queried_like_vcenter_names_them(host, vm, viewer):
    pool = root_pool(host)
    add_samples("pool", pool.pk, host, 2, values=lambda step: {"mem.granted": 11 + step})
    add_samples("host", host.pk, host, 2, values=lambda step: {"mem.granted": 21 + step})
    pool_metric, cluster_metric = query(
        viewer,
        spec(vim.ResourcePool(f"resgroup-{pool.pk}"), GRANTED),
        spec(vim.ComputeResource(f"domain-s{host.pk}"), GRANTED),
    )
    assert series_of(pool_metric) == {GRANTED: [11, 12]}
    assert series_of(cluster_metric) == {GRANTED: [21, 22]}
    assert cluster_metric.entity == vim.ComputeResource(f"domain-s{host.pk}")


def test_an_entity_without_samples_is_left_out_of_the_answer(host, vm, viewer):
    assert query(viewer, spec(vim.VirtualMachine(f"vm-{vm.pk}"), GRANTED)) == []


@pytest.mark.parametrize(
    ("fields", "invalid"),
    [
        ({"intervalId": 60}, "intervalId"),
        ({"format": "xml"}, "format"),
        ({"maxSample": 0}, "maxSample"),
        ({"metricId": [PM.MetricId(counterId=99999, instance="")]}, "metricId"),
    ],
)
def test_bad_query_specs_are_refused_with_invalid_argument(host, vm, viewer, fields, invalid):
    add_samples("vm", vm.pk, host, 3)
    granted = [PM.MetricId(counterId=GRANTED, instance="")]
    fields.setdefault("metricId", granted)
    good = PM.QuerySpec(entity=vim.VirtualMachine(f"vm-{vm.pk}"), metricId=granted)
    assert len(query(viewer, good)) == 1  # the same spec without the fault is answered
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        query(viewer, good, PM.QuerySpec(entity=vim.VirtualMachine(f"vm-{vm.pk}"), **fields))
    assert refused.value.invalidProperty == invalid


def test_a_start_after_the_end_is_refused(host, vm, viewer):
    times = add_samples("vm", vm.pk, host, 3)
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        query(
            viewer,
            spec(vim.VirtualMachine(f"vm-{vm.pk}"), GRANTED, startTime=times[2], endTime=times[0]),
        )
    assert refused.value.invalidProperty == "startTime"


@pytest.mark.parametrize(
    "entity",
    [
        vim.VirtualMachine("vm-999999"),
        vim.VirtualMachine("host-1"),
        vim.Datastore("datastore-1"),
        vim.VirtualMachine("vm-"),
    ],
)
def test_unknown_or_mistyped_entities_are_managed_object_not_found(host, vm, viewer, entity):
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        query(viewer, spec(entity, GRANTED))
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        call("QueryPerfProviderSummary", viewer, entity=entity)
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        call("QueryAvailablePerfMetric", viewer, entity=entity)


def test_available_metrics_are_the_kept_counters_and_only_where_samples_exist(host, vm, viewer):
    entity = vim.VirtualMachine(f"vm-{vm.pk}")
    assert list(call("QueryAvailablePerfMetric", viewer, entity=entity, intervalId=20)) == []
    times = add_samples("vm", vm.pk, host, 3)
    metrics = call("QueryAvailablePerfMetric", viewer, entity=entity, intervalId=20)
    ids = {m.counterId for m in metrics}
    assert {GRANTED, GRANTED_NONE, USAGE} <= ids
    assert CPU_READY not in ids and BY_NAME["mem.sharedcommon.average"].key not in ids
    later = times[-1] + timedelta(hours=1)
    assert list(call("QueryAvailablePerfMetric", viewer, entity=entity, beginTime=later)) == []
    with pytest.raises(vmodl.fault.InvalidArgument):
        call("QueryAvailablePerfMetric", viewer, entity=entity, intervalId=21)


def test_provider_summary_says_real_time_every_20_seconds(host, vm, viewer):
    entity = vim.HostSystem(f"host-{host.pk}")
    summary = call("QueryPerfProviderSummary", viewer, entity=entity)
    assert (summary.entity, summary.refreshRate) == (entity, 20)
    assert summary.currentSupported and summary.summarySupported


def test_query_perf_counter_and_by_level(viewer):
    infos = call("QueryPerfCounter", viewer, counterId=[GRANTED, CPU_READY])
    assert [(i.key, i.groupInfo.key, i.nameInfo.key) for i in infos] == [
        (GRANTED, "mem", "granted"),
        (CPU_READY, "cpu", "ready"),
    ]
    with pytest.raises(vmodl.fault.InvalidArgument):
        call("QueryPerfCounter", viewer, counterId=[GRANTED, 99999])
    level_one = call("QueryPerfCounterByLevel", viewer, level=1)
    assert {i.level for i in level_one} == {1}
    assert BY_NAME["mem.consumed.average"].key in {i.key for i in level_one}
    assert len(call("QueryPerfCounterByLevel", viewer, level=4)) > len(level_one)
    for level in (0, 5):
        with pytest.raises(vmodl.fault.InvalidArgument):
            call("QueryPerfCounterByLevel", viewer, level=level)


def test_a_call_without_its_entity_is_invalid_argument_not_a_crash(host, vm, viewer):
    for name in ("QueryAvailablePerfMetric", "QueryPerfProviderSummary"):
        with pytest.raises(vmodl.fault.InvalidArgument) as refused:
            call(name, viewer)
        assert refused.value.invalidProperty == "entity"
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        query(viewer, PM.QuerySpec(metricId=[PM.MetricId(counterId=GRANTED, instance="")]))
    assert refused.value.invalidProperty == "entity"
    assert query(viewer) == [] and list(call("QueryPerfCounter", viewer)) == []


def test_times_far_outside_the_calendar_are_held_to_it_and_answer_nothing(host, vm, viewer):
    from datetime import UTC, datetime

    add_samples("vm", vm.pk, host, 3)
    entity = vim.VirtualMachine(f"vm-{vm.pk}")
    far = datetime(9999, 12, 31, tzinfo=UTC)
    assert query(viewer, spec(entity, GRANTED, startTime=far)) == []
    early = datetime(1, 1, 2, tzinfo=UTC)
    (metric,) = query(viewer, spec(entity, GRANTED, startTime=early))
    assert len(metric.sampleInfo) == 3
