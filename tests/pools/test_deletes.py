"""Deleting hosts, pools and VMs in the admin goes through pools.services; refusals are messages."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hostsim.models import Host, VirtualMachine
from pools import services
from pools.models import ResourcePool

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x-password-1"))
    return client


@pytest.fixture
def host():
    host = services.create_host(name="esxi-del", memory_mb=8192, cpu_mhz=8000)
    pool = services.create_pool(services.ensure_root_pool(host), "P")
    services.create_vm(host, pool=pool, name="off", memory_mb=512)
    services.power_on(services.create_vm(host, pool=pool, name="on", memory_mb=512))
    return host


def test_deleting_a_powered_on_vm_is_refused_with_a_message(admin_client, host):
    vm = VirtualMachine.objects.get(name="on")
    response = admin_client.post(
        f"/admin/hostsim/virtualmachine/{vm.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Power off" in response.content.decode()
    assert VirtualMachine.objects.filter(pk=vm.pk).exists()


def test_delete_selected_keeps_the_running_vm_and_deletes_the_other(admin_client, host):
    ids = list(VirtualMachine.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/hostsim/virtualmachine/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert list(VirtualMachine.objects.values_list("name", flat=True)) == ["on"]


def test_a_host_with_running_vms_cannot_be_deleted_and_one_without_can(admin_client, host):
    response = admin_client.post(
        f"/admin/hostsim/host/{host.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert "Power off the VMs" in response.content.decode()
    assert Host.objects.filter(pk=host.pk).exists()

    services.power_off(VirtualMachine.objects.get(name="on"))
    response = admin_client.post(
        f"/admin/hostsim/host/{host.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not Host.objects.filter(pk=host.pk).exists()
    assert not ResourcePool.objects.filter(host_id=host.pk).exists()
    assert not VirtualMachine.objects.filter(host_id=host.pk).exists()
