"""`manage.py bench sdk` runs against a live lab: a smoke run with a few VMs, not a timed test."""

import pytest

from hostsim.models import Host
from vsphere.benchmark import SAMPLES, TARGETS, run_sdk_benchmark

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.slow]


def test_the_sdk_benchmark_logs_in_reads_the_vms_and_their_hour_of_samples(sdk):
    hosts_before = set(Host.objects.values_list("pk", flat=True))
    figures = run_sdk_benchmark(sdk.lab.url, "admin", "lab-password-1", vms=3, repeats=1)
    assert (figures["vms"], figures["samples_per_vm"], figures["repeats"]) == (3, SAMPLES, 1)
    assert set(figures["met"]) == set(TARGETS)
    for name in TARGETS:
        assert figures[name] > 0, name
    assert set(Host.objects.values_list("pk", flat=True)) == hosts_before  # its host is gone
