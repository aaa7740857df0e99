"""manage.py seed_demo: the demo scenario through pools.services, created once."""

import pytest
from django.core.management import call_command

from hostsim.models import Host, PowerState, VirtualMachine
from pools import services
from pools.errors import AdmissionDenied
from pools.models import ResourcePool
from tests.pools.conftest import assert_denied, database_state

pytestmark = pytest.mark.django_db


def seed(capsys) -> str:
    call_command("seed_demo")
    return capsys.readouterr().out


def test_seeding_twice_creates_the_demo_once(capsys):
    first = seed(capsys)
    state = database_state()
    counts = (Host.objects.count(), ResourcePool.objects.count(), VirtualMachine.objects.count())

    second = seed(capsys)

    assert counts == (3, 3 + 2, 16)  # three hosts, their root pools, Production and Test
    assert "(21 objects created)" in first
    assert "(0 objects created)" in second
    assert database_state() == state


def test_the_demo_compares_two_hosts_and_a_mix_of_guests(capsys):
    seed(capsys)

    hosts = {host.name: host for host in Host.objects.all()}
    modern, legacy = hosts["esxi-01.lab.local"], hosts["esxi-02.lab.local"]
    assert (modern.hardware_mmu, modern.settings["Mem.ShareForceSalting"]) == (True, 0)
    assert (legacy.hardware_mmu, legacy.settings["Mem.ShareForceSalting"]) == (False, 2)
    for host in (modern, legacy):
        assert set(host.vms.values_list("guest_os", flat=True)) == {"linux", "windows"}
    assert list(
        VirtualMachine.objects.filter(pshare_enabled=False).values_list("name", flat=True)
    ) == ["batch-01"]
    assert set(VirtualMachine.objects.values_list("workload", flat=True)) >= {
        "idle",
        "webserver",
        "database",
        "batch",
        "toucher",
    }
    assert VirtualMachine.objects.filter(power_state=PowerState.POWERED_ON).count() == 15


def test_the_overcommitted_demo_host_holds_every_kind_of_allocation(capsys):
    seed(capsys)
    host = Host.objects.get(name="esxi-03.lab.local")
    vms = {vm.name: vm for vm in host.vms.all()}
    configured = sum(vm.memory_mb for vm in vms.values())
    assert 1.6 <= configured / host.memory_mb <= 1.9  # overcommitted about 1.7x
    assert all(vm.powered_on for vm in vms.values())
    assert vms["db-reserved-03"].memory_reservation == 2048
    assert vms["limited-03"].memory_limit == 1024 < vms["limited-03"].memory_mb
    assert vms["no-balloon-03"].balloon_driver is False
    assert (vms["db-high-03"].memory_shares_level, vms["db-low-03"].memory_shares_level) == (
        "high",
        "low",
    )
    # The simulation gets the tree with the VMs' pool membership (all under the root here).
    assert sorted(host.resource_tree["vms"]) == sorted(vm.pk for vm in vms.values())


def test_big_test_01_is_refused_by_admission_control(capsys):
    seed(capsys)
    vm = VirtualMachine.objects.get(name="big-test-01")
    test_pool = ResourcePool.objects.get(name="Test")
    assert (vm.resource_pool_id, vm.power_state) == (test_pool.pk, PowerState.POWERED_OFF)
    before = database_state()

    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(vm)

    # Test is a fixed 2048 MB pool whose running VMs reserve nothing; big-test-01 wants 3072 MB.
    assert_denied(refused.value, pool="Test", resource="memory", requested=3072, unreserved=2048)
    assert database_state() == before
