"""`run_live_benchmark` against the whole running lab: a short run measures and cleans up."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from dashboard.benchmarks import TARGETS, run_live_benchmark
from hostsim.models import Host, Sample
from pools import services
from tests.labprocs import TEST_SIM_SPEED

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab_pace(settings):
    """The benchmark reads the tick interval from its settings: make them the lab's."""
    settings.SIM_SPEED = float(TEST_SIM_SPEED)


def test_a_short_run_receives_every_sample_times_the_pages_and_cleans_up(live_lab, lab_pace):
    User.objects.create_superuser("bench", password="bench-password-1")
    host = services.create_host(name="esx-bench", memory_mb=8192, cpu_mhz=10000)
    services.power_on(services.create_vm(host, name="bench-subject", memory_mb=512))

    with pytest.raises(RuntimeError, match="logging in as 'bench' failed"):
        run_live_benchmark(live_lab.url, "bench", "wrong password", clients=6, seconds=4)
    result = run_live_benchmark(live_lab.url, "bench", "bench-password-1", clients=6, seconds=4)

    assert result["connected"] == 6 and result["connection_errors"] == 0
    assert result["objects"] == {"vm": 1, "host": 1, "pool": 1}
    assert result["messages"] >= 6, "each client should see several ticks in 4 s"
    assert result["expected"] == result["messages"] and result["dropped"] == 0
    assert (
        0
        < result["latency_ms"]["p50"]
        <= result["latency_ms"]["p95"]
        <= result["latency_ms"]["max"]
    )
    assert result["performance_page"]["server_median_ms"] > 0
    assert (
        result["year_of_stats"]["rows_per_request"] == 365
        and result["year_of_stats"]["median_ms"] > 0
    )
    assert set(result["passed"]) == {
        "latency_p95",
        "nothing_dropped",
        "performance_page",
        "year_of_stats",
    }
    assert result["passed"]["nothing_dropped"]
    # The throw-away host of the year of stats is gone, with its rows.
    assert list(Host.objects.values_list("name", flat=True)) == ["esx-bench"]
    assert not Sample.objects.filter(interval=86400).exists()


def test_bench_live_with_pollers_reports_requests_lag_samples_and_cadence_against_targets(
    live_lab, lab_pace
):
    User.objects.create_superuser("bench", password="bench-password-1")
    host = services.create_host(name="esx-bench", memory_mb=8192, cpu_mhz=10000)
    services.power_on(services.create_vm(host, name="bench-subject", memory_mb=512))
    out = StringIO()

    call_command(
        "bench",
        "live",
        "--url",
        live_lab.url,
        "--username",
        "bench",
        "--password",
        "bench-password-1",
        "--clients",
        "4",
        "--pollers",
        "3",
        "--seconds",
        "5",
        stdout=out,
    )
    result = json.loads(out.getvalue())

    polled = result["stats_requests"]
    assert result["pollers"] == 3 and polled["pollers"] == 3
    assert polled["requests"] >= 3 * 5, "three pollers flat out for 5 s answer many requests"
    assert polled["errors"] == 0 and polled["statuses"] == {"200": polled["requests"]}
    latency = polled["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert result["connection_errors"] == 0 and result["clients_without_samples"] == 0
    assert result["expected"] >= 4 * 5, "four clients, a tick every 0.5 s, for 5 s"
    assert result["received"] == result["expected"] == result["messages"]
    assert result["dropped"] == 0
    assert result["tick_seconds"] == 20 / float(TEST_SIM_SPEED)
    assert 0 < result["cadence_gap_ms"]["p50"] <= result["cadence_gap_ms"]["p95"]
    assert result["stats_endpoint"]["server_median_ms"] > 0
    assert result["targets"] == TARGETS and set(result["met"]) == set(TARGETS)
    assert result["met"]["request_errors"] is True and result["met"]["samples_lost"] is True


@pytest.mark.parametrize("pollers", ["-1", "1001"])
def test_bench_live_refuses_a_poller_count_out_of_range(pollers):
    with pytest.raises(CommandError, match="--pollers must be 0..1000"):
        call_command("bench", "live", "--pollers", pollers, stdout=StringIO())
