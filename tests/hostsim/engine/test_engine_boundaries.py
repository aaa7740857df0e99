"""The engine stays pure: importing it pulls in no web framework, and the benchmark runs without
one."""

import json
import subprocess
import sys

import pytest

from hostsim.benchmarks import TARGETS, run_engine_benchmark, targets_met

# What each figure means, said here and not read from the benchmark: a full scan should be fast
# (pages per second, the more the better); every other figure is a cost (the less the better).
HIGHER_IS_BETTER = {"full_scan_pages_per_second"}


def test_importing_the_engine_imports_no_django_celery_channels_or_redis():
    check = (
        "import sys, hostsim.engine, hostsim.benchmarks; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "assert not loaded & {'django', 'celery', 'channels', 'redis'}, loaded"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_figure_meets_its_target_up_to_the_target_and_fails_one_step_past_it(name):
    at_target = dict(TARGETS)
    step = TARGETS[name] / 100
    better = TARGETS[name] + step if name in HIGHER_IS_BETTER else TARGETS[name] - step
    worse = TARGETS[name] - step if name in HIGHER_IS_BETTER else TARGETS[name] + step

    assert all(targets_met(at_target).values())  # a figure exactly at its target meets it
    assert targets_met({**at_target, name: better})[name] is True
    verdict = targets_met({**at_target, name: worse})
    assert verdict[name] is False
    assert [other for other, met in verdict.items() if not met] == [name]


def test_the_engine_benchmark_runs_at_a_tiny_size_and_reports_every_figure():
    result = run_engine_benchmark(memory_gb=1, vms=4, vm_memory_gb=0.25)
    json.dumps(result)  # JSON-able, for `manage.py bench engine`
    for figure in TARGETS:
        assert result[figure] > 0
    assert result["met"] == targets_met(result)  # the verdict is on this run's own figures
    assert result["all_met"] is all(result["met"].values())
    for key in (
        "tick_scan_seconds",
        "snapshot_bytes",
        "snapshot_seconds",
        "restore_seconds",
        "small_host_tick_seconds",
        "numpy_copy_gb_per_s",
        "engine_state_bytes",
    ):
        assert key in result
    assert result["guest_pages"] == 4 * 256 * 256
    overcommitted = result["overcommitted"]
    assert overcommitted["vms"] == 6  # 1.5x the host's memory in VMs
    assert overcommitted["guest_pages"] == 6 * 256 * 256
    assert 0 <= overcommitted["reclaim_share"] <= 1
    assert sum(overcommitted["states_seen"].values()) == overcommitted["ticks_measured"]
