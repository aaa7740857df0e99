"""The engine stays pure: importing it pulls in no web framework, and the benchmark runs without one."""

import json
import subprocess
import sys

from hostsim.benchmarks import TARGETS, run_engine_benchmark


def test_importing_the_engine_imports_no_django_celery_channels_or_redis():
    check = (
        "import sys, hostsim.engine, hostsim.benchmarks; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "assert not loaded & {'django', 'celery', 'channels', 'redis'}, loaded"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


def test_the_engine_benchmark_runs_at_a_tiny_size_and_reports_every_figure():
    result = run_engine_benchmark(memory_gb=1, vms=4, vm_memory_gb=0.25)
    json.dumps(result)  # JSON-able, for `manage.py bench engine`
    for figure in TARGETS:
        assert result[figure] > 0 and isinstance(result["met"][figure], bool)
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
    assert result["all_met"] == all(result["met"].values())
    overcommitted = result["overcommitted"]
    assert overcommitted["vms"] == 6  # 1.5x the host's memory in VMs
    assert overcommitted["guest_pages"] == 6 * 256 * 256
    assert 0 <= overcommitted["reclaim_share"] <= 1
    assert sum(overcommitted["states_seen"].values()) == overcommitted["ticks_measured"]
