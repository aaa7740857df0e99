"""GET /api/{hosts|pools|vms}/{id}/stats/ and GET /api/counters/ (DESIGN.md section 7)."""

from datetime import timedelta

import pytest
from dashboard_factories import add_samples, make_vm
from django.test import Client

from dashboard.counters import counters_for
from dashboard.stats import MAX_COUNTERS
from hostsim.engine.counters import HOST_COUNTERS, VM_COUNTERS
from pools.receivers import POOL_COUNTERS

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stats(client, vm, **params):
    return client.get(f"/api/vms/{vm.pk}/stats/", params)


def test_the_default_is_the_overview_counters_over_the_last_real_time_hour_oldest_first(
    host, vm, viewer
):
    times = add_samples("vm", vm.pk, host, 200)  # 4000 s: more than the hour real-time keeps
    body = stats(logged_in(viewer), vm).json()
    assert body["interval"] == 20
    assert body["timestamps"] == [ts.isoformat() for ts in times[-180:]]
    assert list(body["series"]) == [
        "mem.granted.average",
        "mem.consumed.average",
        "mem.shared.average",
        "mem.active.average",
        "mem.overhead.average",
        "mem.vmmemctl.average",
        "mem.swapped.average",
        "mem.compressed.average",
    ]
    assert body["series"]["mem.granted.average"] == [100_000 + step for step in range(20, 200)]
    assert body["end"] == times[-1].isoformat()
    assert body["start"] == (times[-1] - timedelta(hours=1)).isoformat()


def test_real_time_rows_answer_every_rollup_with_the_stored_value_and_missing_counters_with_null(
    host, vm, viewer
):
    add_samples("vm", vm.pk, host, 3, values=lambda step: {"mem.granted": 500 + step})
    body = stats(
        logged_in(viewer),
        vm,
        counters="mem.granted.average,mem.granted.minimum,mem.granted.maximum,mem.consumed.average",
    ).json()
    assert body["series"] == {
        "mem.granted.average": [500, 501, 502],
        "mem.granted.minimum": [500, 501, 502],
        "mem.granted.maximum": [500, 501, 502],
        "mem.consumed.average": [None, None, None],
    }


def test_rolled_up_intervals_answer_their_stored_statistics(host, vm, viewer):
    def rolled(step):
        return {
            "mem.granted.average": 10.0 + step,
            "mem.granted.minimum": 5 + step,
            "mem.granted.maximum": 20 + step,
        }

    times = add_samples("vm", vm.pk, host, 400, interval=86400, values=rolled)
    add_samples("vm", vm.pk, host, 5)  # real-time rows must not leak into the daily answer
    body = stats(
        logged_in(viewer), vm, interval=86400, counters="mem.granted.average,mem.granted.maximum"
    ).json()
    assert body["interval"] == 86400
    assert body["timestamps"] == [
        ts.isoformat() for ts in times[-365:]
    ]  # a year ending at the latest
    assert body["series"]["mem.granted.average"] == [10.0 + step for step in range(35, 400)]
    assert body["series"]["mem.granted.maximum"] == [20 + step for step in range(35, 400)]


def test_start_is_exclusive_and_end_inclusive_so_a_client_can_backfill_from_its_last_point(
    host, vm, viewer
):
    times = add_samples("vm", vm.pk, host, 10)
    body = stats(logged_in(viewer), vm, start=times[3].isoformat(), end=times[6].isoformat()).json()
    assert body["timestamps"] == [ts.isoformat() for ts in times[4:7]]
    newer = stats(logged_in(viewer), vm, start=times[7].isoformat()).json()
    assert newer["timestamps"] == [ts.isoformat() for ts in times[8:]]


def test_naive_and_z_suffixed_times_are_utc(host, vm, viewer):
    times = add_samples("vm", vm.pk, host, 5)
    naive = times[1].replace(tzinfo=None).isoformat()
    zulu = times[3].isoformat().replace("+00:00", "Z")
    body = stats(logged_in(viewer), vm, start=naive, end=zulu).json()
    assert body["timestamps"] == [ts.isoformat() for ts in times[2:4]]


def test_an_entity_without_samples_answers_empty_series(vm, viewer):
    body = stats(logged_in(viewer), vm, counters="mem.granted.average").json()
    assert body["timestamps"] == [] and body["series"] == {"mem.granted.average": []}


def test_samples_of_other_entities_are_not_mixed_in(host, vm, viewer):
    other = make_vm(host, "other")
    add_samples("vm", other.pk, host, 5)
    add_samples("host", host.pk, host, 5)
    assert stats(logged_in(viewer), vm).json()["timestamps"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"counters": "mem.bogus.average"}, "counters"),
        ({"counters": "mem.granted"}, "counters"),
        ({"counters": "mem.granted.latest"}, "counters"),
        ({"counters": "mem.sharedcommon.average"}, "counters"),  # a host counter, not a VM's
        ({"counters": ""}, "counters"),
        (
            {
                "counters": ",".join(
                    f"{name}.{stat}"
                    for name in (
                        "mem.granted",
                        "mem.consumed",
                        "mem.shared",
                        "mem.zero",
                        "mem.active",
                        "mem.overhead",
                        "mem.vmmemctl",
                        "mem.swapped",
                        "mem.usage",
                    )
                    for stat in ("average", "minimum", "maximum")
                )
            },
            "counters",
        ),
        ({"interval": "42"}, "interval"),
        ({"interval": "twenty"}, "interval"),
        ({"interval": "-20"}, "interval"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2025-13-45T00:00:00"}, "end"),
        ({"start": "2025-03-01T12:00:00Z", "end": "2025-03-01T11:00:00Z"}, "end"),
        ({"start": "2025-03-01T12:00:00Z", "end": "2025-03-01T12:00:00Z"}, "end"),
        (
            {"start": "2020-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z", "interval": "20"},
            "interval",
        ),
        ({"end": "0001-01-01T00:00:00Z"}, "end"),  # a window before it would leave datetime's range
        ({"end": "9999-12-31T23:59:59-01:00"}, "end"),  # past datetime's range in UTC
        ({"interval": "86400", "end": "0001-01-02T00:00:00Z"}, "end"),
    ],
)
def test_invalid_parameters_are_a_400_naming_the_field(vm, viewer, params, field):
    response = stats(logged_in(viewer), vm, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]
    assert set(body["fields"]) == {field}
    assert body["fields"][field]


def test_the_limit_on_counters_is_the_documented_one(host, viewer):
    """27 distinct keys are too many; MAX_COUNTERS keys are fine (host counters, all rollups)."""
    names = [
        "mem.granted",
        "mem.consumed",
        "mem.shared",
        "mem.sharedcommon",
        "mem.zero",
        "mem.active",
        "mem.overhead",
        "mem.vmmemctl",
    ]
    keys = [f"{name}.{stat}" for name in names for stat in ("average", "minimum", "maximum")]
    assert len(keys) == MAX_COUNTERS
    client = logged_in(viewer)
    assert (
        client.get(f"/api/hosts/{host.pk}/stats/", {"counters": ",".join(keys)}).status_code == 200
    )
    more = [*keys, "mem.usage.average"]
    assert (
        client.get(f"/api/hosts/{host.pk}/stats/", {"counters": ",".join(more)}).status_code == 400
    )


def test_host_and_pool_stats_read_their_own_rows(host, vm, viewer):
    add_samples("host", host.pk, host, 3, values=lambda step: {"mem.sharedcommon": step})
    add_samples(
        "pool", vm.resource_pool_id, host, 2, values=lambda step: {"mem.granted": step * 10}
    )
    client = logged_in(viewer)
    host_body = client.get(
        f"/api/hosts/{host.pk}/stats/", {"counters": "mem.sharedcommon.average"}
    ).json()
    assert host_body["series"] == {"mem.sharedcommon.average": [0, 1, 2]}
    pool_body = client.get(f"/api/pools/{vm.resource_pool_id}/stats/").json()
    assert pool_body["series"]["mem.granted.average"] == [0, 10]
    assert "mem.sharedcommon.average" not in pool_body["series"]  # the pool's Overview set
    assert "mem.compressed.average" in pool_body["series"]


def test_anonymous_callers_and_users_without_permission_are_refused(host, vm, stranger, viewer):
    add_samples("vm", vm.pk, host, 3)
    anonymous = Client().get(f"/api/vms/{vm.pk}/stats/")
    assert (anonymous.status_code, anonymous["WWW-Authenticate"]) == (401, 'Basic realm="api"')
    refused = logged_in(stranger).get(f"/api/vms/{vm.pk}/stats/")
    assert refused.status_code == 403
    assert "error" in refused.json() and "timestamps" not in refused.json()
    assert logged_in(viewer).get(f"/api/vms/{vm.pk}/stats/").status_code == 200


def test_an_unknown_vm_is_a_404(viewer):
    assert logged_in(viewer).get("/api/vms/424242/stats/").status_code == 404


@pytest.mark.parametrize("collection", ["hosts", "pools", "vms"])
@pytest.mark.parametrize("raw_id", ["424242", "abc", "1e3", "99999999999999999999999"])
def test_an_unknown_or_malformed_id_is_a_404_json_for_every_kind(
    host, vm, viewer, collection, raw_id
):
    answer = logged_in(viewer).get(f"/api/{collection}/{raw_id}/stats/")
    assert answer.status_code == 404 and set(answer.json()) == {"error"}


def test_the_polled_default_answer_reads_its_samples_in_one_query(
    host, vm, viewer, django_assert_num_queries
):
    """Dashboards poll this: session, user, permissions (2), the entity's key, then the samples
    bounded by the newest one in the same statement; no query per row or per counter."""
    add_samples("vm", vm.pk, host, 200)
    client = logged_in(viewer)
    with django_assert_num_queries(6) as captured:
        body = stats(client, vm).json()
    assert len(body["timestamps"]) == 180
    assert sum('"hostsim_sample"' in query["sql"] for query in captured.captured_queries) == 1


def test_a_year_of_daily_rollups_is_read_in_a_few_queries(
    host, vm, viewer, django_assert_max_num_queries
):
    add_samples("vm", vm.pk, host, 365, interval=86400, values=lambda s: {"mem.granted.average": s})
    client = logged_in(viewer)
    with django_assert_max_num_queries(8):  # session, user, permissions, the VM, latest, rows
        body = client.get(
            f"/api/vms/{vm.pk}/stats/", {"interval": 86400, "counters": "mem.granted.average"}
        ).json()
    assert len(body["timestamps"]) == 365


# --------------------------------------------------------------------------- the catalogue


def test_the_counter_catalogue_describes_every_counter_with_vsphere_labels(viewer):
    body = logged_in(viewer).get("/api/counters/").json()
    by_name = {counter["name"]: counter for counter in body}
    assert {
        "mem.granted",
        "mem.consumed",
        "mem.shared",
        "mem.sharedcommon",
        "mem.zero",
        "mem.active",
        "mem.overhead",
        "mem.vmmemctl",
        "mem.swapped",
        "mem.usage",
        "lab.mmu.overhead",
        "lab.guest.used",
        "mem.vmmemctltarget",
        "mem.swaptarget",
        "mem.swapin",
        "mem.swapout",
        "mem.swapinRate",
        "mem.swapoutRate",
        "mem.compressed",
        "mem.zipSaved",
        "mem.compressionRate",
        "mem.decompressionRate",
        "mem.latency",
        "mem.entitlement",
        "mem.state",
        "mem.lowfreethreshold",
        "mem.swapused",
        "mem.reservedCapacity",
        "mem.totalCapacity",
    } <= set(by_name)
    assert by_name["mem.sharedcommon"]["label"] == "Shared common"
    assert by_name["mem.vmmemctl"]["label"] == "Balloon"
    assert by_name["mem.granted"]["unit"] == "KB"
    # Percentages are stored and served in hundredths, as vSphere's QueryPerf gives them.
    assert (by_name["mem.usage"]["unit"], by_name["mem.usage"]["scale"]) == ("percent", 100)
    assert (by_name["mem.latency"]["unit"], by_name["mem.latency"]["scale"]) == ("percent", 100)
    assert (by_name["mem.granted"]["scale"], by_name["mem.swapinRate"]["unit"]) == (1, "KBps")
    assert by_name["mem.totalCapacity"]["unit"] == "MB"  # vSphere's "total reservation"
    assert by_name["mem.state"]["entities"] == ["host"]
    assert "0 high, 1 clear, 2 soft, 3 hard" in by_name["mem.state"]["description"]
    assert by_name["mem.granted"]["rollups"] == ["average", "minimum", "maximum"]
    assert by_name["mem.granted"]["statsType"] == "absolute"
    assert by_name["mem.sharedcommon"]["entities"] == ["host"]
    assert by_name["lab.mmu.overhead"]["labOwn"] is True
    assert "lab's own" in by_name["lab.guest.used"]["description"]
    assert all(counter["description"] for counter in body)


def test_the_catalogue_can_be_narrowed_to_one_kind_of_entity(viewer):
    client = logged_in(viewer)
    vm_names = {c["name"] for c in client.get("/api/counters/", {"entity": "vm"}).json()}
    assert "mem.sharedcommon" not in vm_names and "lab.guest.used" in vm_names
    assert client.get("/api/counters/", {"entity": "cluster"}).status_code == 400


def test_the_catalogue_needs_a_login(db):
    anonymous = Client().get("/api/counters/")
    assert (anonymous.status_code, anonymous["WWW-Authenticate"]) == (401, 'Basic realm="api"')


def test_the_catalogue_lists_every_counter_the_lab_stores():
    """What the engine reports per VM and host, and pools.receivers per pool, is all described."""
    from dashboard.counters import CATALOGUE
    from hostsim.engine.counters import HOST_COUNTERS, VM_COUNTERS
    from pools.receivers import POOL_COUNTERS

    for kind, stored in (("vm", VM_COUNTERS), ("host", HOST_COUNTERS), ("pool", POOL_COUNTERS)):
        for name in stored:
            assert name in CATALOGUE, name
            assert kind in CATALOGUE[name].entities, (kind, name)


def test_every_counter_the_engine_reports_is_in_the_catalogue_for_its_entity_kinds():
    """What the worker stores is what the catalogue describes: no counter stored but unserved."""
    for kind, reported in (("vm", VM_COUNTERS), ("host", HOST_COUNTERS), ("pool", POOL_COUNTERS)):
        assert {counter.name for counter in counters_for(kind)} == set(reported), kind
