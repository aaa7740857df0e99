"""`run_live_benchmark` against the whole running lab: a short run measures and cleans up."""

import pytest
from django.contrib.auth.models import User

from dashboard.benchmarks import run_live_benchmark
from hostsim.models import Host, Sample
from pools import services

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def test_a_short_run_receives_every_sample_times_the_pages_and_cleans_up(live_lab):
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
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["max"]
    assert result["performance_page"]["server_median_ms"] > 0
    assert result["year_of_stats"]["rows_per_request"] == 365 and result["year_of_stats"]["median_ms"] > 0
    assert set(result["passed"]) == {"latency_p95", "nothing_dropped", "performance_page", "year_of_stats"}
    assert result["passed"]["nothing_dropped"]
    # The throw-away host of the year of stats is gone, with its rows.
    assert list(Host.objects.values_list("name", flat=True)) == ["esx-bench"]
    assert not Sample.objects.filter(interval=86400).exists()

