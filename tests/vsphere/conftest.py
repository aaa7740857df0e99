"""One running lab per test module for the vSphere API tests, over HTTP and HTTPS, and a fresh
inventory per test; pyVmomi's SmartConnect is the client.

`sdk_lab` (module scope) starts uvicorn twice (plain HTTP, and TLS with the lab's self-signed
certificate), a Celery worker and beat on the test database, as `./lab up` runs them. `sdk`
(function scope) is a transactional test: it writes an inventory through pools.services and an
admin login, hands out `connect()`, and deletes its hosts again (under their locks, as the
browser tests do) before pytest-django flushes the database.

    def test_something(sdk):
        si = sdk.connect()                # admin over HTTP; sdk.connect(https=True) over TLS
        vm = sdk.vm("web-01")             # a pyVmomi reference bound to that connection's stub
"""

import contextlib
import ssl
import sys
import urllib.request
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Permission, User

from tests.labprocs import (
    CeleryWorkers,
    Child,
    child_env,
    forget_lab_state,
    free_port,
    start_web,
    wait_until,
)

PASSWORD = "lab-password-1"
ADMIN = "admin"
VIEWER = "viewer"  # may read everything, change nothing
VIEW_PERMS = ("hostsim.view_host", "pools.view_resourcepool", "hostsim.view_virtualmachine")


def unverified_tls() -> ssl.SSLContext:
    """The lab's certificate is self-signed: clients skip verification (GOVC_INSECURE=1)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def start_https(log_dir, cert, key) -> tuple[Child, int]:
    port = free_port()
    web = Child(
        "web-https",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(key),
        ],
        child_env(),
        log_dir,
    )

    def answers():
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/sdk/vimServiceVersions.xml",
                timeout=1,
                context=unverified_tls(),
            ):
                return True
        except OSError:
            return not web.alive()

    wait_until(answers, 60, "the HTTPS server did not answer")
    assert web.alive(), web.output()
    return web, port


@dataclass
class SdkLab:
    url: str
    port: int
    https_port: int
    children: list
    host: str = "127.0.0.1"


@pytest.fixture(scope="module")
def sdk_lab(django_db_setup, redis_url, tmp_path_factory):
    """uvicorn over HTTP and over HTTPS, a Celery worker and beat, for every test of the module."""
    from hostsim.redis_client import get_redis
    from vsphere.certificate import ensure_certificate

    forget_lab_state(get_redis())
    log_dir = tmp_path_factory.mktemp("sdk-lab")
    cert, key = ensure_certificate(log_dir / "tls")
    workers = CeleryWorkers(log_dir, child_env())
    web, url = start_web(log_dir)
    https = None
    try:
        https, https_port = start_https(log_dir, cert, key)
        workers.start("sdk")
        workers.start_beat()
        yield SdkLab(url, int(url.rsplit(":", 1)[1]), https_port, [web, https, *workers.children])
    finally:
        web.stop()
        if https is not None:
            https.stop()
        workers.stop_all()


@dataclass
class Sdk:
    """The lab of the module with this test's inventory."""

    lab: SdkLab
    host_id: int
    ids: dict  # name -> primary key of every VM and pool of the scenario
    connections: list = field(default_factory=list)

    def connect(self, *, https: bool = False, user: str = ADMIN, password: str = PASSWORD):
        from pyVim.connect import SmartConnect

        if https:
            si = SmartConnect(
                host=self.lab.host,
                port=self.lab.https_port,
                protocol="https",
                user=user,
                pwd=password,
                sslContext=unverified_tls(),
            )
        else:
            si = SmartConnect(
                host=self.lab.host, port=self.lab.port, protocol="http", user=user, pwd=password
            )
        self.connections.append(si)
        return si

    def vm(self, si, name: str):
        from pyVmomi import vim

        return vim.VirtualMachine(f"vm-{self.ids[name]}", si._stub)

    def pool(self, si, name: str):
        from pyVmomi import vim

        return vim.ResourcePool(f"resgroup-{self.ids[name]}", si._stub)

    def api(self, path: str, user: str = ADMIN):
        """GET the JSON API as `user` (HTTP Basic), for comparing with what /sdk says."""
        import base64
        import json

        request = urllib.request.Request(self.lab.url + path)
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def _build_scenario() -> tuple[int, dict]:
    from pools import services
    from pools.admission import Allocation

    User.objects.create_superuser(ADMIN, password=PASSWORD)
    viewer = User.objects.create_user(VIEWER, password=PASSWORD)
    for perm in VIEW_PERMS:
        app_label, codename = perm.split(".")
        viewer.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    host = services.create_host(name="esx-sdk", memory_mb=16384, cpu_mhz=20000)
    root = services.ensure_root_pool(host)
    fixed = services.create_pool(
        root, "Fixed", memory=Allocation(reservation=512, expandable=False)
    )
    web = services.power_on(
        services.create_vm(host, name="web-01", memory_mb=1024, workload="webserver")
    )
    idle = services.power_on(services.create_vm(host, name="idle-01", memory_mb=512))
    too_big = services.create_vm(
        host, pool=fixed, name="too-big", memory_mb=2048, memory=Allocation(reservation=1024)
    )
    ids = {
        "Resources": root.pk,
        "Fixed": fixed.pk,
        "web-01": web.pk,
        "idle-01": idle.pk,
        "too-big": too_big.pk,
    }
    return host.pk, ids


def _delete_every_host() -> None:
    from hostsim.models import Host
    from hostsim.routing import host_lock
    from pools import services

    for host in Host.objects.all():
        with host_lock(host.pk, wait=30.0):
            for vm in host.vms.filter(power_state="poweredOn"):
                services.power_off(vm)
            services.delete_host(host)


@pytest.fixture
def sdk(transactional_db, sdk_lab):
    host_id, ids = _build_scenario()
    state = Sdk(sdk_lab, host_id, ids)
    yield state
    from pyVim.connect import Disconnect

    for si in state.connections:
        with contextlib.suppress(Exception):  # already logged out by the test
            Disconnect(si)
    _delete_every_host()
