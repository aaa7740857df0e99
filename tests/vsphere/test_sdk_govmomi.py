"""govmomi, the Go library govc is made of, against the running lab over HTTPS: the decoder that
reads a managed object reference in an anyType only when it says xsi:type="ManagedObjectReference",
and that refuses an int[] sent as ArrayOfLong. govc itself is not packaged where the lab is
built; Debian packages the library (`apt-get install golang-go golang-github-vmware-govmomi-dev`).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.celery, pytest.mark.slow]

CLIENT = Path(__file__).parent / "govmomi_client" / "main.go"
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put Go sources


@pytest.fixture(scope="module")
def govmomi_client(tmp_path_factory):
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/github.com/vmware/govmomi").is_dir():
        pytest.skip(
            "needs Go and govmomi: apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    binary = tmp_path_factory.mktemp("govmomi") / "govmomi_client"
    env = dict(
        os.environ,
        GO111MODULE="off",
        GOPATH=GOPATH,
        GOCACHE=str(Path(settings.VAR_DIR) / "go-cache"),
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    build = subprocess.run(
        [go, "build", "-o", str(binary), str(CLIENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    return binary


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
