"""The Go clients beside these tests (govmomi_client, govmomi_perf), built on Debian's govmomi."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put Go sources


def build_go_client(tmp_path_factory, source: Path, package: str) -> Path:
    """`go build` of one of the Go clients beside these tests against Debian's govmomi.

    Skips the test when Go or the govmomi package is missing. The build cache is GOCACHE when
    set (tests/xdist_isolation.py points every pytest-xdist worker at one), else under VAR_DIR.
    """
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/github.com/vmware/govmomi", package).is_dir():
        pytest.skip(
            "needs Go and govmomi: apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    binary = tmp_path_factory.mktemp(source.parent.name) / source.parent.name
    env = dict(
        os.environ,
        GO111MODULE="off",
        GOPATH=GOPATH,
        GOCACHE=os.environ.get("GOCACHE") or str(Path(settings.VAR_DIR) / "go-cache"),
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    build = subprocess.run(
        [go, "build", "-o", str(binary), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    return binary
