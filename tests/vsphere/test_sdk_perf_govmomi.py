"""govmomi's performance package (what `govc metric.sample` runs) against the live lab over HTTPS.

govmomi decodes QueryPerf answers strictly by xsi:type (PerfEntityMetric, PerfMetricIntSeries),
so this is the Go client's view of the same counters pyVmomi reads; values must be the stats
API's for the same timestamps.
"""

import subprocess
import urllib.parse
from datetime import datetime
from pathlib import Path

import pytest

from hostsim.models import Sample
from tests.labprocs import wait_until
from tests.vsphere.go_clients import build_go_client

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.slow]

CLIENT = Path(__file__).parent / "govmomi_perf" / "main.go"
NAMES = ("mem.granted.average", "mem.consumed.average", "mem.usage.average")


@pytest.fixture(scope="module")
def govmomi_perf(tmp_path_factory):
    return build_go_client(tmp_path_factory, CLIENT, "performance")


def run(binary, sdk, vm_id: int, max_sample: int, interval: int) -> dict[str, list]:
    url = f"https://admin:lab-password-1@{sdk.lab.host}:{sdk.lab.https_port}/sdk"
    done = subprocess.run(
        [str(binary), url, f"vm-{vm_id}", str(max_sample), str(interval), *NAMES],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines: dict[str, list] = {}
    for line in done.stdout.splitlines():
        kind, _, rest = line.partition(": ")
        lines.setdefault(kind, []).append(rest.split(" "))
    return lines


def test_govmomi_samples_the_vm_counters_the_stats_api_shows(sdk, govmomi_perf):
    vm_id = sdk.ids["web-01"]
    wait_until(
        lambda: Sample.objects.filter(entity_kind="vm", entity_id=vm_id).count() >= 4,
        60,
        "the worker stored no samples",
    )
    out = run(govmomi_perf, sdk, vm_id, max_sample=3, interval=20)
    assert out["summary"] == [["true", "20"]]
    assert [line[0] for line in out["interval"]] == ["300", "1800", "7200", "86400"]
    assert {tuple(line) for line in out["counter"]} >= {
        ("mem.granted.average", "29", "kiloBytes"),
        ("mem.usage.average", "24", "percent"),
    }
    assert int(out["available"][0][0]) > len(NAMES)
    times = [datetime.fromisoformat(line[1]) for line in out["sample"]]
    assert [line[0] for line in out["sample"]] == ["20"] * 3
    body = sdk.api(
        f"/api/vms/{vm_id}/stats/?"
        + urllib.parse.urlencode(
            {
                "counters": ",".join(NAMES),
                "start": times[0].isoformat(),
                "end": times[-1].isoformat(),
            }
        )
    )
    # start is exclusive: the stats API's answer is the last two of the three.
    assert [datetime.fromisoformat(ts) for ts in body["timestamps"]] == times[1:]
    series = {line[0]: line[2].split(",") for line in out["series"]}
    assert set(series) == set(NAMES) and all(line[1] == "" for line in out["series"])
    for name in ("mem.granted.average", "mem.consumed.average"):
        assert [int(v) for v in series[name][1:]] == body["series"][name]
    # govmomi reads a percent counter as hundredths and shows percent: 1234 is "12.34".
    usage = [round(float(v) * 100) for v in series["mem.usage.average"][1:]]
    assert usage == body["series"]["mem.usage.average"]
