"""vmware_exporter 0.18.4 (Prometheus) scraping the lab over HTTPS, as it scrapes a vCenter.

The exporter runs as its own process, unmodified but for one thing: it connects to port 443 only
(its SmartConnect call passes no port), so the process starts with pyVmomi's SmartConnect given
the lab's HTTPS port. Everything else is the exporter's own code: login, inventory through
ContainerViews and the PropertyCollector, counter ids by name from perfCounter, QueryPerf.
"""

import re
import sys
import urllib.error
import urllib.request

import pytest

from hostsim.models import REALTIME_INTERVAL, Sample
from tests.labprocs import Child, child_env, free_port, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.celery, pytest.mark.slow]

LAUNCH = """
import functools, sys
from pyVim import connect
connect.SmartConnect = functools.partial(connect.SmartConnect, port=int(sys.argv[1]))
from vmware_exporter.vmware_exporter import main
main(["-a", "127.0.0.1", "-p", sys.argv[2]])
"""
# vmware_exporter's VM counters (vm perf_list) and the lab counter each one reads.
VM_MEMORY = {
    "vmware_vm_mem_consumed_average": "mem.consumed",
    "vmware_vm_mem_active_average": "mem.active",
    "vmware_vm_mem_usage_average": "mem.usage",
    "vmware_vm_mem_swapped_average": "mem.swapped",
    "vmware_vm_mem_vmmemctl_average": "mem.vmmemctl",
}
SAMPLE = re.compile(r"^(?P<name>\w+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


@pytest.fixture
def exporter(sdk, tmp_path):
    port = free_port()
    env = child_env(
        VSPHERE_HOST=sdk.lab.host,
        VSPHERE_USER="admin",
        VSPHERE_PASSWORD="lab-password-1",
        VSPHERE_IGNORE_SSL="True",
        VSPHERE_COLLECT_SNAPSHOTS="True",
    )
    argv = [sys.executable, "-c", LAUNCH, str(sdk.lab.https_port), str(port)]
    child = Child("vmware-exporter", argv, env, tmp_path)
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return True
        except OSError:
            return not child.alive()

    wait_until(healthy, 30, "vmware_exporter did not start")
    assert child.alive(), child.output()
    yield url, child
    child.stop()


def scrape(url: str, child: Child) -> dict[str, dict[str, float]]:
    """/metrics as {metric: {vm_name or host_name: value}}; the exporter's log if it failed."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=60) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as failed:  # 500 "# Collection failed": its log says why
        pytest.fail(f"the scrape failed ({failed.code}):\n{child.output()[-6000:]}")
    values: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            owner = labels.get("vm_name") or labels.get("host_name") or labels.get("ds_name", "")
            values.setdefault(match["name"], {})[owner] = float(match["value"])
    return values


def recent_values(vm_id: int, counter: str) -> set:
    rows = Sample.objects.filter(entity_kind="vm", entity_id=vm_id, interval=REALTIME_INTERVAL)
    rows = rows.order_by("-ts")
    return {row[counter] for row in rows.values_list("values", flat=True)[:20]}


def test_vmware_exporter_scrapes_the_lab_and_finds_the_vm_memory_counters(sdk, exporter):
    url, child = exporter
    vm_id = sdk.ids["web-01"]
    wait_until(
        lambda: Sample.objects.filter(entity_kind="vm", entity_id=vm_id).count() >= 3,
        60,
        "the worker stored no samples",
    )
    metrics = scrape(url, child)
    assert "vmware_vm_power_state" in metrics, child.output()
    assert metrics["vmware_vm_power_state"] == {"web-01": 1.0, "idle-01": 1.0, "too-big": 0.0}
    for metric, counter in VM_MEMORY.items():
        assert set(metrics[metric]) == {"web-01", "idle-01"}, metric  # powered-on VMs only
        # The exporter asks for the newest real-time sample (maxSample 1): one of the latest.
        assert metrics[metric]["web-01"] in recent_values(vm_id, counter), metric
    assert metrics["vmware_vm_mem_consumed_average"]["web-01"] > 0
    assert metrics["vmware_host_mem_active_average"]["esx-sdk"] > 0  # its guests touch memory
