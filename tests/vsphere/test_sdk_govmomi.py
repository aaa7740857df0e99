"""govmomi, the Go library govc is made of, against the running lab over HTTPS: the decoder that
reads a managed object reference in an anyType only when it says xsi:type="ManagedObjectReference",
and that refuses an int[] sent as ArrayOfLong. govc itself is not packaged where the lab is
built; Debian packages the library (`apt-get install golang-go golang-github-vmware-govmomi-dev`).
"""

import subprocess
from pathlib import Path

import pytest

from tests.vsphere.go_clients import build_go_client

pytestmark = [pytest.mark.celery, pytest.mark.slow]

CLIENT = Path(__file__).parent / "govmomi_client" / "main.go"


@pytest.fixture(scope="module")
def govmomi_client(tmp_path_factory):
    return build_go_client(tmp_path_factory, CLIENT, "")


def test_govmomi_lists_powers_on_and_creates_pools_like_govc(sdk, govmomi_client):
    url = f"https://admin:lab-password-1@{sdk.lab.host}:{sdk.lab.https_port}/sdk"
    run = subprocess.run(
        [str(govmomi_client), url, "too-big"], capture_output=True, text=True, timeout=120
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "about: VMware vCenter Server" in out and "VirtualCenter" in out
    assert "datacenter: /vmemlab" in out
    assert "vm: /vmemlab/vm/web-01 poweredOn" in out
    assert f"HostSystem:host-{sdk.host_id} ResourcePool:resgroup-{sdk.ids['Resources']}" in out
    assert "host: /vmemlab/host/esx-sdk/esx-sdk 17179869184" in out
    assert "pool: /vmemlab/host/esx-sdk/Resources/Fixed" in out
    assert (
        'power on too-big -> Insufficient resources to satisfy configured reservation: "Fixed"'
        in out
    )
    assert "pool.create -> ResourcePool:resgroup-" in out and "pool.destroy -> <nil>" in out
    assert out.rstrip().endswith("logged out")
