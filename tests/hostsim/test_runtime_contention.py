"""Memory under contention through the runtime: what pools.services writes decides what the
simulation gives each VM (DESIGN.md 4b). The engine's own rules are tested in tests/hostsim/engine;
here the database is the only way in, as for an admin."""

import pytest

from hostsim import runtime
from hostsim.models import REALTIME_INTERVAL, EntityKind, Host, HostView, Sample
from pools import services
from pools.admission import Allocation
from pools.models import ResourcePool

pytestmark = [pytest.mark.django_db(transaction=True)]

MB = 1024  # counters are in KB


@pytest.fixture
def host(clean_redis):
    host = services.create_host(name="esxi-tight", memory_mb=2048, cpu_mhz=4000, seed=3)
    yield host
    runtime.forget(host.pk)


def _vm(host, name, pool=None, memory=None, **settings):
    settings = {"memory_mb": 1536, "vcpus": 1, "workload": "database", **settings}
    vm = services.create_vm(host, name=name, pool=pool, memory=memory, **settings)
    return services.power_on(vm)


def _latest(vm, counter):
    row = Sample.objects.filter(
        entity_kind=EntityKind.VM, entity_id=vm.pk, interval=REALTIME_INTERVAL
    )
    return row.order_by("-ts").values_list("values", flat=True).first()[counter]


def _run(host, minutes):
    runtime.advance(host.pk, minutes * 60)


def _shares(vm, level):
    memory = services.allocation_of(vm, "memory")
    return services.reconfigure_vm(
        vm,
        memory=Allocation(memory.reservation, memory.limit, expandable=False, shares_level=level),
    )


def test_raising_a_vms_shares_under_contention_raises_its_entitlement_and_granted(host):
    a, b = _vm(host, "db-a"), _vm(host, "db-b")  # two 1.5 GB databases on a 2 GB host
    _run(host, 13)
    granted_before = _latest(a, "mem.granted")
    assert abs(_latest(a, "mem.entitlement") - _latest(b, "mem.entitlement")) < 200 * MB  # equals

    _shares(a, "high")
    _shares(b, "low")
    _run(host, 13)

    assert _latest(a, "mem.entitlement") > _latest(b, "mem.entitlement") + 400 * MB
    assert _latest(a, "mem.granted") > granted_before + 50 * MB
    assert _latest(b, "mem.vmmemctl") > _latest(a, "mem.vmmemctl")  # the low-shares VM balloons


def test_a_limit_below_the_vms_size_is_enforced_on_an_idle_host(clean_redis):
    roomy = services.create_host(name="esxi-roomy", memory_mb=16384, cpu_mhz=8000, seed=4)
    try:
        vm = _vm(roomy, "limited", memory=Allocation(0, 512, expandable=False), memory_mb=2048)
        _run(roomy, 5)
        assert _latest(vm, "mem.granted") <= 512 * MB
        assert _latest(vm, "mem.vmmemctl") > 0  # its balloon driver gives the rest back
        assert _latest(vm, "mem.entitlement") <= 512 * MB
        view = HostView.objects.get(host=roomy).esxtop
        assert view["PMEM"]["state"] == "high"  # plenty free: only the limit reclaims
        (row,) = view["vms"]
        assert (row["id"], row["mctl"]) == (vm.pk, True) and row["mctlsz"] > 0
    finally:
        runtime.forget(roomy.pk)


def test_without_a_balloon_driver_the_host_swaps_instead(clean_redis):
    roomy = services.create_host(name="esxi-tools", memory_mb=16384, cpu_mhz=8000, seed=5)
    try:
        vm = _vm(
            roomy,
            "no-tools",
            memory=Allocation(0, 512, expandable=False),
            memory_mb=2048,
            balloon_driver=False,
        )
        _run(roomy, 5)
        assert _latest(vm, "mem.vmmemctl") == 0
        assert _latest(vm, "mem.swapped") + _latest(vm, "mem.compressed") > 0
        assert _latest(vm, "mem.granted") <= 512 * MB
    finally:
        runtime.forget(roomy.pk)


def test_the_simulation_divides_memory_down_the_pools_tree(host):
    capped = services.create_pool(
        services.ensure_root_pool(host), "Capped", memory=Allocation(0, 600, expandable=True)
    )
    inside, outside = _vm(host, "inside", pool=capped), _vm(host, "outside")
    assert Host.objects.get(pk=host.pk).resource_tree["children"][0]["vms"] == [inside.pk]
    _run(host, 5)
    assert _latest(inside, "mem.entitlement") <= 600 * MB  # the pool's limit caps its VMs
    assert _latest(outside, "mem.entitlement") > 700 * MB
    pool_rows = Sample.objects.filter(entity_kind=EntityKind.POOL, entity_id=capped.pk)
    pool_values = pool_rows.order_by("-ts").values_list("values", flat=True).first()
    assert pool_values["mem.entitlement"] == _latest(inside, "mem.entitlement")

    # Moving the VM out of the pool lifts the cap within a balance period.
    services.move_into(ResourcePool.objects.get(host=host, is_root=True), [inside], [])
    _run(host, 5)
    assert _latest(inside, "mem.entitlement") > 600 * MB
