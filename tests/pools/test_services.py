"""pools.services on the database: DESIGN section 5, one scenario each, with the numbers it implies.

The pure rules are tested in test_admission*.py; here each rule is driven end to end through the
only code that may change pools, allocations, membership and power state, and the result is read
back from the database (rows, and `services.runtime`). A refusal must write nothing.
"""

import pytest
from django.core.exceptions import ValidationError

from hostsim import guest_operations
from hostsim.models import PowerState
from pools import services
from pools.admission import Allocation
from pools.errors import AdmissionDenied, InvalidOperation, ManagedObjectNotFound
from pools.models import ResourcePool
from pools.shares import share_percentages
from tests.pools.conftest import (
    HOST_CPU_MHZ,
    ROOT_MEMORY_MB,
    Lab,
    assert_denied,
    database_state,
    expandable,
    fixed,
    fresh,
    reserve,
)

pytestmark = pytest.mark.django_db


def runtime_of(lab: Lab, pool: str | None = None, resource: str = "memory") -> dict[str, int]:
    return lab.usage(pool, resource)


def figures(reservation_used, for_vm, unreserved, max_usage) -> dict[str, int]:
    return {
        "reservationUsed": reservation_used,
        "reservationUsedForVm": for_vm,
        "unreservedForPool": unreserved,
        "unreservedForVm": unreserved,
        "maxUsage": max_usage,
    }


# --------------------------------------------------------------------------- the root pool


def test_the_root_pool_reserves_what_the_host_can_give_to_vms(lab):
    root = lab.root
    assert services.capacity_for_vms(lab.host) == {"cpu": HOST_CPU_MHZ, "memory": ROOT_MEMORY_MB}
    assert (root.name, root.parent_id, root.is_root) == ("Resources", None, True)
    assert (root.memory_reservation, root.memory_limit, root.memory_expandable) == (
        ROOT_MEMORY_MB,
        ROOT_MEMORY_MB,
        False,
    )
    assert (root.cpu_reservation, root.cpu_limit, root.cpu_expandable) == (
        HOST_CPU_MHZ,
        HOST_CPU_MHZ,
        False,
    )
    assert runtime_of(lab) == figures(0, 0, ROOT_MEMORY_MB, ROOT_MEMORY_MB)
    assert runtime_of(lab, resource="cpu") == figures(0, 0, HOST_CPU_MHZ, HOST_CPU_MHZ)


def test_the_root_pool_follows_the_hosts_capacity(lab):
    version = lab.host.config_version

    host = services.update_host(lab.host, memory_mb=32768, cpu_mhz=30000)

    # 32768 - (24 + 8 MB for each of 32 GB)
    assert services.capacity_for_vms(host) == {"cpu": 30000, "memory": 32488}
    root = lab.root
    assert (root.memory_reservation, root.memory_limit, root.cpu_reservation, root.cpu_limit) == (
        32488,
        32488,
        30000,
        30000,
    )
    assert runtime_of(lab)["unreservedForVm"] == 32488
    assert fresh(host).config_version > version  # the simulation re-reads the host


@pytest.mark.parametrize(("memory_mb", "admitted"), [(12288, True), (12287, False)])
def test_a_host_cannot_shrink_below_what_its_pools_reserve(lab, memory_mb, admitted):
    # 12288 MB leaves 12288 - (24 + 8 * 12) = 12168 MB for VMs; one MB less leaves 12167.
    lab.pool("BIG", memory=fixed(12168))
    before = database_state()

    if admitted:
        services.update_host(lab.host, memory_mb=memory_mb)
        assert lab.root.memory_reservation == 12168
        assert runtime_of(lab)["unreservedForVm"] == 0
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.update_host(lab.host, memory_mb=memory_mb)
    assert refused.value.pool == "Resources"
    assert refused.value.resource == "memory"
    assert database_state() == before


def test_the_root_pool_cannot_be_edited_moved_or_deleted(lab):
    lab.pool("A")
    root, before = lab.root, database_state()

    with pytest.raises(InvalidOperation, match="root resource pool"):
        services.update_pool(root, memory=fixed(1024))
    with pytest.raises(InvalidOperation, match="root resource pool"):
        services.update_pool(root, name="Renamed")
    with pytest.raises(InvalidOperation, match="root resource pool"):
        services.delete_pool(root)
    with pytest.raises(InvalidOperation, match="cannot be moved"):
        services.move_into(lab.get_pool("A"), pools=[root])

    assert database_state() == before


def test_a_host_without_hardware_mmu_refuses_vms_that_ask_for_it(db):
    lab = Lab(hardware_mmu=False)
    before = database_state()
    with pytest.raises(InvalidOperation) as refused:
        lab.vm("ept", mmu_mode="hardware")
    assert set(refused.value.fields) == {"mmu_mode"}
    assert database_state() == before


def test_a_host_keeps_hardware_mmu_while_a_vm_asks_for_it(lab):
    lab.vm("ept", mmu_mode="hardware")
    before = database_state()

    with pytest.raises(InvalidOperation) as refused:
        services.update_host(lab.host, hardware_mmu=False)

    assert "ept" in refused.value.fields["hardware_mmu"]
    assert database_state() == before
    services.reconfigure_vm(lab.get_vm("ept"), mmu_mode="automatic")
    assert services.update_host(lab.host, hardware_mmu=False).hardware_mmu is False


# --------------------------------------------------------------------------- creating pools


def test_a_new_pool_gets_vspheres_defaults(lab):
    pool = lab.pool("New")

    assert (pool.parent_id, pool.host_id) == (lab.root.pk, lab.host.pk)
    for prefix, shares in (("cpu", 4000), ("memory", 163840)):  # a 4-vCPU, 16 GB VM at normal
        assert getattr(pool, f"{prefix}_reservation") == 0
        assert getattr(pool, f"{prefix}_limit") == -1
        assert getattr(pool, f"{prefix}_expandable") is True
        assert getattr(pool, f"{prefix}_shares_level") == "normal"
        assert getattr(pool, f"{prefix}_shares") == shares
    assert runtime_of(lab, "New") == figures(0, 0, ROOT_MEMORY_MB, ROOT_MEMORY_MB)


@pytest.mark.parametrize(("reservation", "admitted"), [(1024, True), (1025, False)])
def test_child_pools_consume_the_parents_unreserved_reservation_up_to_equality(
    lab, reservation, admitted
):
    lab.pool("PARENT", memory=fixed(4096))
    lab.pool("A", "PARENT", memory=fixed(3072))
    assert runtime_of(lab, "PARENT") == figures(3072, 0, 1024, ROOT_MEMORY_MB)
    assert runtime_of(lab)["reservationUsed"] == 4096
    before = database_state()

    if admitted:
        lab.pool("B", "PARENT", memory=expandable(reservation))
        assert runtime_of(lab, "PARENT") == figures(4096, 0, 0, ROOT_MEMORY_MB)
        assert runtime_of(lab, "B") == figures(
            0, 0, 1024, ROOT_MEMORY_MB
        )  # its own, nothing to borrow
        return
    with pytest.raises(AdmissionDenied) as refused:
        lab.pool("B", "PARENT", memory=expandable(reservation))
    assert_denied(refused.value, pool="PARENT", resource="memory", requested=1025, unreserved=1024)
    assert database_state() == before


def test_an_empty_pool_still_reserves_its_reservation(lab):
    lab.pool("EMPTY", memory=expandable(4096), cpu=fixed(5000))

    assert runtime_of(lab) == figures(4096, 0, ROOT_MEMORY_MB - 4096, ROOT_MEMORY_MB)
    assert runtime_of(lab, resource="cpu") == figures(5000, 0, HOST_CPU_MHZ - 5000, HOST_CPU_MHZ)
    assert runtime_of(lab, "EMPTY") == figures(
        0, 0, ROOT_MEMORY_MB, ROOT_MEMORY_MB
    )  # 4096 own + the rest

    room = ROOT_MEMORY_MB - 4096
    lab.vm("fits", memory=reserve(room), memory_mb=room)
    lab.vm("one-too-many", memory=reserve(room + 1), memory_mb=room + 1)
    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(lab.get_vm("one-too-many"))
    assert_denied(
        refused.value, pool="Resources", resource="memory", requested=room + 1, unreserved=room
    )
    services.power_on(lab.get_vm("fits"))
    assert runtime_of(lab)["unreservedForVm"] == 0


def test_a_pool_under_a_limited_pool_cannot_reserve_past_the_limit(lab):
    lab.pool("CAPPED", memory=expandable(0, limit=2048))
    before = database_state()

    with pytest.raises(AdmissionDenied) as refused:
        lab.pool("TOO-BIG", "CAPPED", memory=fixed(2049))
    assert_denied(refused.value, pool="CAPPED", resource="memory", requested=2049, unreserved=2048)
    assert database_state() == before

    lab.pool("FITS", "CAPPED", memory=fixed(2048))
    assert runtime_of(lab, "CAPPED") == figures(2048, 0, 0, 2048)
    assert runtime_of(lab)["reservationUsed"] == 2048  # CAPPED borrowed it from the root


def test_invalid_pool_values_are_refused_on_their_fields(lab):
    before = database_state()
    cases = [
        ({"memory": expandable(2048, limit=1024)}, "BAD", {"memory_limit"}),
        ({"cpu": expandable(-1)}, "BAD", {"cpu_reservation"}),
        ({"cpu": Allocation(shares_level="custom", shares=0)}, "BAD", {"cpu_shares"}),
        ({"memory": Allocation(shares_level="huge")}, "BAD", {"memory_shares_level"}),
        ({}, "   ", {"name"}),
        ({}, "x" * 81, {"name"}),
    ]
    for allocations, name, fields in cases:
        with pytest.raises(InvalidOperation) as refused:
            lab.pool(name, **allocations)
        assert set(refused.value.fields) == fields, name
    assert database_state() == before


def test_sibling_pools_cannot_share_a_name(lab):
    lab.pool("A")
    lab.pool("A", lab.pool("OTHER").name)  # a cousin may
    before = database_state()
    with pytest.raises(InvalidOperation) as refused:
        lab.pool("A")
    assert set(refused.value.fields) == {"name"}
    with pytest.raises(InvalidOperation):
        services.update_pool(lab.get_pool("OTHER"), name="A")
    assert database_state() == before


# -------------------------------------------------------------------------- expandable reservations


def guide_lab(*, vm_m2: bool) -> Lab:
    """vSphere Resource Management, "Expandable Reservations Example", in CPU MHz.

    RP-MOM reserves 6 GHz (fixed, so that it does not borrow from the host, as the guide's
    outcome needs) and runs VM-M1 (1 GHz); RP-KID is its child with an expandable 2 GHz
    reservation holding VM-K1 and VM-K2 (2 GHz each). The second scenario also runs VM-M2 (2 GHz).
    """
    lab = Lab()
    lab.pool("RP-MOM", cpu=fixed(6000))
    lab.vm("VM-M1", "RP-MOM", on=True, cpu=reserve(1000))
    if vm_m2:
        lab.vm("VM-M2", "RP-MOM", on=True, cpu=reserve(2000))
    lab.pool("RP-KID", "RP-MOM", cpu=expandable(2000))
    lab.vm("VM-K1", "RP-KID", cpu=reserve(2000))
    lab.vm("VM-K2", "RP-KID", cpu=reserve(2000))
    return lab


def test_guide_example_vm_k2_borrows_from_rp_mom_and_powers_on(db):
    lab = guide_lab(vm_m2=False)
    assert runtime_of(lab, "RP-MOM", "cpu") == figures(3000, 1000, 3000, HOST_CPU_MHZ)
    assert runtime_of(lab, "RP-KID", "cpu") == figures(0, 0, 5000, HOST_CPU_MHZ)

    # "VM-K1 can reserve the resources directly from RP-KID (which has 2GHz)."
    services.power_on(lab.get_vm("VM-K1"))
    assert runtime_of(lab, "RP-KID", "cpu") == figures(2000, 2000, 3000, HOST_CPU_MHZ)
    assert runtime_of(lab, "RP-MOM", "cpu") == figures(3000, 3000, 3000, HOST_CPU_MHZ)

    # "RP-MOM has 6GHz minus 1GHz ... minus 2GHz ..., which leaves 3GHz unreserved. With 3GHz
    # available, you can power on the 2GHz virtual machine."
    vm = services.power_on(lab.get_vm("VM-K2"))

    assert fresh(vm).power_state == PowerState.POWERED_ON
    assert runtime_of(lab, "RP-KID", "cpu") == figures(4000, 4000, 1000, HOST_CPU_MHZ)
    assert runtime_of(lab, "RP-MOM", "cpu") == figures(5000, 5000, 1000, HOST_CPU_MHZ)
    assert runtime_of(lab, resource="cpu") == figures(6000, 5000, HOST_CPU_MHZ - 6000, HOST_CPU_MHZ)


def test_guide_example_vm_k2_is_refused_when_rp_mom_has_only_1_ghz_left(db):
    lab = guide_lab(vm_m2=True)
    services.power_on(lab.get_vm("VM-K1"))  # "still ... 2GHz are available locally"
    # "5GHz of RP-MOM are already in use: 3GHz reserved by the local virtual machines and 2GHz
    # reserved by RP-KID"
    assert runtime_of(lab, "RP-MOM", "cpu") == figures(5000, 5000, 1000, HOST_CPU_MHZ)
    vm, before = lab.get_vm("VM-K2"), database_state()

    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(vm)

    assert_denied(refused.value, pool="RP-MOM", resource="cpu", requested=2000, unreserved=1000)
    assert str(refused.value) == (
        'Insufficient resources to satisfy configured reservation: "RP-KID" has 1000 MHz '
        'unreserved CPU, the operation needs 2000 MHz (borrowing stops at "RP-MOM", whose CPU '
        "reservation is fixed)"
    )
    assert database_state() == before  # still powered off, config_version unchanged
    assert (fresh(vm).power_state, fresh(vm).config_version) == (
        PowerState.POWERED_OFF,
        vm.config_version,
    )


def test_a_limit_caps_borrowing(lab):
    lab.pool("CAPPED", memory=expandable(1024, limit=2048))
    for name, reservation in (("one", 1024), ("two", 1024), ("three", 512)):
        lab.vm(name, "CAPPED", memory=reserve(reservation))
    assert runtime_of(lab, "CAPPED") == figures(
        0, 0, 2048, 2048
    )  # not its 1024 plus the host's rest

    services.power_on(lab.get_vm("one"))
    services.power_on(lab.get_vm("two"))  # borrows 1024 MB from the root
    assert runtime_of(lab, "CAPPED") == figures(2048, 2048, 0, 2048)
    assert runtime_of(lab) == figures(2048, 2048, ROOT_MEMORY_MB - 2048, ROOT_MEMORY_MB)
    before = database_state()

    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(lab.get_vm("three"))

    assert_denied(refused.value, pool="CAPPED", resource="memory", requested=512, unreserved=0)
    assert 'capped by the memory limit of "CAPPED", 2048 MB' in str(refused.value)
    assert database_state() == before


@pytest.mark.parametrize("middle_is_fixed", [True, False])
def test_a_fixed_pool_in_the_middle_of_an_expandable_chain_stops_the_borrowing(db, middle_is_fixed):
    lab = Lab()
    lab.pool("TOP", memory=expandable(0))
    lab.pool("MID", "TOP", memory=fixed(2048) if middle_is_fixed else expandable(2048))
    lab.pool("LEAF", "MID", memory=expandable(0))
    lab.vm("first", "LEAF", on=True, memory=reserve(2048))
    lab.vm("second", "LEAF", memory=reserve(1))
    before = database_state()

    if not middle_is_fixed:
        assert runtime_of(lab, "LEAF")["unreservedForVm"] == ROOT_MEMORY_MB - 2048
        services.power_on(lab.get_vm("second"))
        assert runtime_of(lab, "MID") == figures(2049, 2049, ROOT_MEMORY_MB - 2049, ROOT_MEMORY_MB)
        assert runtime_of(lab)["reservationUsed"] == 2049
        return
    assert runtime_of(lab, "LEAF")["unreservedForVm"] == 0
    assert runtime_of(lab, "TOP")["unreservedForVm"] == ROOT_MEMORY_MB - 2048
    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(lab.get_vm("second"))
    assert_denied(refused.value, pool="MID", resource="memory", requested=1, unreserved=0)
    assert database_state() == before


def test_powered_off_vms_consume_nothing(lab):
    lab.pool("P", memory=fixed(2048))
    lab.vm("a", "P", memory=reserve(2048))
    lab.vm("b", "P", memory=reserve(2048))
    assert runtime_of(lab, "P") == figures(0, 0, 2048, ROOT_MEMORY_MB)

    services.power_on(lab.get_vm("a"))
    assert runtime_of(lab, "P") == figures(2048, 2048, 0, ROOT_MEMORY_MB)
    with pytest.raises(AdmissionDenied):
        services.power_on(lab.get_vm("b"))

    services.power_off(lab.get_vm("a"))
    assert runtime_of(lab, "P") == figures(0, 0, 2048, ROOT_MEMORY_MB)
    services.power_on(lab.get_vm("b"))
    assert lab.get_vm("b").power_state == PowerState.POWERED_ON
    assert lab.get_vm("a").power_state == PowerState.POWERED_OFF


def test_power_operations_bump_the_config_version_once_and_repeat_harmlessly(lab):
    vm = lab.vm("v", memory=reserve(1024))
    version = vm.config_version

    on = services.power_on(vm)
    again = services.power_on(vm)

    assert on.config_version == again.config_version == version + 1
    assert runtime_of(lab)["reservationUsedForVm"] == 1024
    off = services.power_off(vm)
    assert (off.power_state, off.config_version) == (PowerState.POWERED_OFF, version + 2)
    assert services.power_off(vm).config_version == version + 2


def test_power_on_is_refused_for_the_resource_that_is_short(lab):
    lab.pool("P", cpu=fixed(1000), memory=fixed(8192))
    lab.vm("cpu-hungry", "P", cpu=reserve(1001), memory=reserve(1024))
    with pytest.raises(AdmissionDenied) as refused:
        services.power_on(lab.get_vm("cpu-hungry"))
    assert_denied(refused.value, pool="P", resource="cpu", requested=1001, unreserved=1000)
    assert "1000 MHz unreserved CPU" in str(refused.value)


# --------------------------------------------------------------------------- reconfiguring


@pytest.mark.parametrize(("new_reservation", "admitted"), [(4096, True), (4097, False)])
def test_a_running_vms_reservation_can_grow_only_into_free_room(lab, new_reservation, admitted):
    lab.pool("P", memory=fixed(4096))
    vm = lab.vm("v", "P", on=True, memory=reserve(1024), memory_mb=8192)
    assert runtime_of(lab, "P") == figures(1024, 1024, 3072, ROOT_MEMORY_MB)
    before = database_state()

    if admitted:
        vm = services.reconfigure_vm(vm, memory=reserve(new_reservation))
        assert vm.memory_reservation == 4096
        assert runtime_of(lab, "P") == figures(4096, 4096, 0, ROOT_MEMORY_MB)
        assert vm.config_version == before["vms"][0]["config_version"] + 1
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.reconfigure_vm(vm, memory=reserve(new_reservation))
    assert_denied(refused.value, pool="P", resource="memory", requested=3073, unreserved=3072)
    assert database_state() == before


def test_a_powered_off_vm_may_reserve_more_than_is_free(lab):
    lab.pool("P", memory=fixed(1024))
    vm = services.reconfigure_vm(lab.vm("v", "P", memory_mb=8192), memory=reserve(8192))
    assert vm.memory_reservation == 8192
    assert runtime_of(lab, "P") == figures(0, 0, 1024, ROOT_MEMORY_MB)


def test_a_running_vm_keeps_its_hardware_while_on(lab):
    vm = lab.vm("v", on=True, memory_mb=2048, vcpus=2)
    before = database_state()

    with pytest.raises(InvalidOperation) as refused:
        services.reconfigure_vm(vm, memory_mb=4096, vcpus=4)

    assert set(refused.value.fields) == {"memory_mb", "vcpus"}
    assert database_state() == before
    vm = services.reconfigure_vm(
        vm, workload="webserver", pshare_enabled=False
    )  # these may change live
    assert (vm.workload, vm.pshare_enabled) == ("webserver", False)


def test_a_vm_cannot_reserve_more_memory_than_it_is_configured_with(lab):
    before = database_state()
    with pytest.raises(InvalidOperation) as refused:
        lab.vm("v", memory_mb=2048, memory=reserve(2049))
    assert set(refused.value.fields) == {"memory_reservation"}
    assert database_state() == before

    vm = lab.vm("v", memory_mb=2048, memory=reserve(2048))
    before = database_state()
    with pytest.raises(InvalidOperation) as refused:
        services.reconfigure_vm(vm, memory_mb=2047)
    assert set(refused.value.fields) == {"memory_reservation"}
    with pytest.raises(InvalidOperation) as refused:
        services.reconfigure_vm(vm, memory=reserve(2048, limit=2047))
    assert set(refused.value.fields) == {"memory_limit"}
    assert database_state() == before


def test_vm_settings_are_validated_and_names_are_unique_per_host(lab):
    lab.vm("taken")
    other = Lab(name="esxi-b")
    other.vm("taken")  # another host may reuse it
    foreign_pool = other.pool("THEIRS")
    before = database_state()

    refusals = {
        "taken": lambda: lab.vm("taken"),
        "blank": lambda: lab.vm("  "),
        "long": lambda: lab.vm("v" * 81),
        "memory": lambda: lab.vm("v", memory_mb=0),
        "os": lambda: lab.vm("v", guest_os="beos"),
        "pool": lambda: services.create_vm(lab.host, pool=foreign_pool, name="v"),
    }
    fields = {}
    for case, attempt in refusals.items():
        with pytest.raises(InvalidOperation) as refused:
            attempt()
        fields[case] = set(refused.value.fields)
    assert fields == {
        "taken": {"name"},
        "blank": {"name"},
        "long": {"name"},
        "memory": {"memory_mb"},
        "os": {"guest_os"},
        "pool": {"resource_pool"},
    }
    with pytest.raises(InvalidOperation, match="Unknown VM settings: colour"):
        lab.vm("v", colour="red")
    assert database_state() == before


def test_a_running_vm_cannot_be_deleted(lab):
    vm = lab.vm("v", on=True)
    with pytest.raises(InvalidOperation, match="Power off"):
        services.delete_vm(vm)
    services.delete_vm(services.power_off(vm))
    assert not lab.host.vms.exists()


def test_a_vm_powered_on_since_the_caller_read_it_is_still_not_deleted(lab):
    stale = lab.vm("v")  # the caller's copy says powered off
    services.power_on(lab.get_vm("v"))
    with pytest.raises(InvalidOperation, match="Power off"):
        services.delete_vm(stale)
    assert fresh(stale).power_state == PowerState.POWERED_ON


def test_every_operation_on_an_object_deleted_meanwhile_is_refused_as_not_found(lab):
    """The caller's copy outlived its row (a concurrent delete): never DoesNotExist or KeyError."""
    pool, other = lab.pool("P"), lab.pool("Q")
    vm, running = lab.vm("v", "Q"), lab.vm("r", on=True)
    services.delete_pool(pool)
    services.delete_vm(lab.get_vm("v"))
    before = database_state()

    attempts = {
        "delete pool": lambda: services.delete_pool(pool),
        "update pool": lambda: services.update_pool(pool, name="X"),
        "create under pool": lambda: services.create_pool(pool, "C"),
        "move into pool": lambda: services.move_into(pool, [running], []),
        "move a deleted vm": lambda: services.move_into(other, [vm], []),
        "move a deleted pool": lambda: services.move_into(other, [], [pool]),
        "create vm in pool": lambda: services.create_vm(lab.host, pool=pool, name="n"),
        "power on": lambda: services.power_on(vm),
        "power off": lambda: services.power_off(vm),
        "reconfigure": lambda: services.reconfigure_vm(vm, workload="batch"),
        "delete vm": lambda: services.delete_vm(vm),
        "guest": lambda: guest_operations.request_guest_operation(vm, "allocate", 1),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ManagedObjectNotFound, match="no longer exists"):
            attempt()
        assert database_state() == before, name


def test_operations_on_a_deleted_host_are_refused_as_not_found(lab):
    host, vm = lab.host, lab.vm("v")
    services.delete_host(host)
    for attempt in (
        lambda: services.update_host(host, memory_mb=8192),
        lambda: services.delete_host(host),
        lambda: services.create_vm(host, name="n"),
        lambda: services.power_on(vm),
    ):
        with pytest.raises(ManagedObjectNotFound, match="no longer exists"):
            attempt()
    assert services.runtime(host.pk) == {}  # a listing that read its pools just before


@pytest.mark.parametrize(("limit", "admitted"), [(2048, True), (2047, False)])
def test_a_pool_limit_cannot_go_below_what_its_children_reserve(lab, limit, admitted):
    lab.pool("P", memory=expandable(0))
    lab.vm("v", "P", on=True, memory=reserve(2048))
    before = database_state()

    if admitted:
        pool = services.update_pool(lab.get_pool("P"), memory=expandable(0, limit=limit))
        assert pool.memory_limit == 2048
        assert runtime_of(lab, "P") == figures(2048, 2048, 0, 2048)
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.update_pool(lab.get_pool("P"), memory=expandable(0, limit=limit))
    assert_denied(refused.value, pool="P", resource="memory", requested=2048, unreserved=2047)
    assert database_state() == before


@pytest.mark.parametrize(("reservation", "admitted"), [(3072, True), (3071, False)])
def test_a_fixed_reservation_cannot_go_below_what_the_pool_holds(lab, reservation, admitted):
    lab.pool("P", memory=fixed(4096))
    lab.vm("v", "P", on=True, memory=reserve(2048))
    lab.pool("CHILD", "P", memory=fixed(1024))
    assert runtime_of(lab, "P") == figures(3072, 2048, 1024, ROOT_MEMORY_MB)
    before = database_state()

    if admitted:
        services.update_pool(lab.get_pool("P"), memory=fixed(reservation))
        assert runtime_of(lab, "P") == figures(3072, 2048, 0, ROOT_MEMORY_MB)
        assert runtime_of(lab)["reservationUsed"] == 3072
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.update_pool(lab.get_pool("P"), memory=fixed(reservation))
    assert_denied(refused.value, pool="P", resource="memory", requested=3072, unreserved=3071)
    assert database_state() == before


def test_an_expandable_reservation_may_be_lowered_below_what_the_pool_holds(lab):
    lab.pool("P", memory=expandable(4096))
    lab.vm("v", "P", on=True, memory=reserve(3072))
    services.update_pool(lab.get_pool("P"), memory=expandable(1024))
    assert runtime_of(lab, "P") == figures(3072, 3072, ROOT_MEMORY_MB - 3072, ROOT_MEMORY_MB)
    assert runtime_of(lab)["reservationUsed"] == 3072  # eff(P) = max(1024, 3072)


@pytest.mark.parametrize(
    ("reservation", "admitted"), [(ROOT_MEMORY_MB - 1000, True), (ROOT_MEMORY_MB - 999, False)]
)
def test_raising_a_pool_reservation_asks_the_parent_only_for_the_growth(lab, reservation, admitted):
    lab.pool("P", memory=expandable(0))
    lab.vm("v", "P", on=True, memory=reserve(2000))  # already borrowed from the root
    lab.pool("OTHER", memory=fixed(1000))
    assert runtime_of(lab)["unreservedForVm"] == ROOT_MEMORY_MB - 3000
    before = database_state()

    if admitted:
        services.update_pool(lab.get_pool("P"), memory=expandable(reservation))
        assert runtime_of(lab) == figures(ROOT_MEMORY_MB, 2000, 0, ROOT_MEMORY_MB)
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.update_pool(lab.get_pool("P"), memory=expandable(reservation))
    # eff(P) grows from 2000 to `reservation`: that growth is what the root is asked for.
    assert_denied(
        refused.value,
        pool="Resources",
        resource="memory",
        requested=reservation - 2000,
        unreserved=ROOT_MEMORY_MB - 3000,
    )
    assert database_state() == before


def test_renaming_a_pool_keeps_its_allocation(lab):
    pool = lab.pool("P", memory=fixed(1024))
    renamed = services.update_pool(pool, name="Q")
    assert (
        fresh(renamed).name,
        fresh(renamed).memory_reservation,
        fresh(renamed).memory_expandable,
    ) == (
        "Q",
        1024,
        False,
    )


# --------------------------------------------------------------------------- moving


def test_a_vm_moves_into_a_pool_with_room_and_takes_its_reservation_along(lab):
    lab.pool("TARGET", memory=fixed(2048))
    vm = lab.vm("v", on=True, memory=reserve(2048))
    assert runtime_of(lab) == figures(4096, 2048, ROOT_MEMORY_MB - 4096, ROOT_MEMORY_MB)

    services.move_into(lab.get_pool("TARGET"), vms=[vm])

    moved = fresh(vm)
    assert moved.resource_pool_id == lab.get_pool("TARGET").pk
    assert moved.config_version == vm.config_version + 1  # the simulation re-reads it
    assert runtime_of(lab, "TARGET") == figures(2048, 2048, 0, ROOT_MEMORY_MB)
    # The VM's 2048 now sit inside TARGET's reservation instead of beside it.
    assert runtime_of(lab) == figures(2048, 2048, ROOT_MEMORY_MB - 2048, ROOT_MEMORY_MB)


@pytest.mark.parametrize("target_reservation", [2048, 1024])  # 2048: either VM alone would fit
def test_a_refused_move_leaves_everything_where_it_was(lab, target_reservation):
    lab.pool("TARGET", memory=fixed(target_reservation))
    lab.vm("small", on=True, memory=reserve(1))
    big = lab.vm("big", on=True, memory=reserve(2048))
    before = database_state()

    with pytest.raises(AdmissionDenied) as refused:
        services.move_into(lab.get_pool("TARGET"), vms=[lab.get_vm("small"), big])  # all or nothing

    assert_denied(
        refused.value,
        pool="TARGET",
        resource="memory",
        requested=2049,
        unreserved=target_reservation,
    )
    assert database_state() == before
    assert fresh(big).resource_pool_id == lab.root.pk


def test_a_powered_off_vm_moves_anywhere(lab):
    lab.pool("FULL", memory=fixed(0))
    vm = lab.vm("v", memory=reserve(4096))
    services.move_into(lab.get_pool("FULL"), vms=[vm])
    assert fresh(vm).resource_pool_id == lab.get_pool("FULL").pk
    with pytest.raises(AdmissionDenied):
        services.power_on(vm)


@pytest.mark.parametrize(("target", "admitted"), [("ROOMY", True), ("CROWDED", False)])
def test_pool_moves_are_admission_controlled(lab, target, admitted):
    lab.pool("MOVER", memory=fixed(2048))
    lab.pool("ROOMY", memory=fixed(2048))
    lab.pool("CROWDED", memory=fixed(2048))
    lab.vm("resident", "CROWDED", on=True, memory=reserve(1))
    mover, before = lab.get_pool("MOVER"), database_state()

    if admitted:
        services.move_into(lab.get_pool(target), pools=[mover])
        assert fresh(mover).parent_id == lab.get_pool("ROOMY").pk
        assert runtime_of(lab, "ROOMY") == figures(2048, 0, 0, ROOT_MEMORY_MB)
        assert runtime_of(lab)["reservationUsed"] == 2 * 2048  # MOVER now sits inside ROOMY's 2048
        return
    with pytest.raises(AdmissionDenied) as refused:
        services.move_into(lab.get_pool(target), pools=[mover])
    assert_denied(refused.value, pool="CROWDED", resource="memory", requested=2048, unreserved=2047)
    assert database_state() == before


def test_a_pool_cannot_move_into_itself_or_below_itself(lab):
    top = lab.pool("TOP")
    lab.pool("MID", "TOP")
    lab.pool("LOW", "MID")
    before = database_state()

    for target in ("TOP", "MID", "LOW"):
        with pytest.raises(
            InvalidOperation, match="cannot move into itself or into a pool below it"
        ):
            services.move_into(lab.get_pool(target), pools=[top])

    assert database_state() == before
    services.move_into(lab.root, pools=[lab.get_pool("LOW")])  # moving up is fine
    assert fresh(lab.get_pool("LOW")).parent_id == lab.root.pk


def test_nothing_moves_across_hosts(lab):
    other = Lab(name="esxi-b")
    vm, pool = other.vm("theirs"), other.pool("THEIRS")
    before = database_state()
    with pytest.raises(InvalidOperation, match="across hosts"):
        services.move_into(lab.root, vms=[vm])
    with pytest.raises(InvalidOperation, match="across hosts"):
        services.move_into(lab.root, pools=[pool])
    assert database_state() == before


def test_a_pool_cannot_move_next_to_a_sibling_of_the_same_name(lab):
    lab.pool("A")
    lab.pool("B")
    lab.pool("A", "B")  # B/A
    before = database_state()
    nested = ResourcePool.objects.get(host=lab.host, name="A", parent__name="B")

    with pytest.raises(InvalidOperation) as refused:
        services.move_into(lab.root, pools=[nested])

    assert "A" in str(refused.value)
    assert database_state() == before


# --------------------------------------------------------------------------- deleting


def test_deleting_a_pool_hands_its_vms_and_child_pools_to_its_parent(lab):
    lab.pool("GP", memory=fixed(4096))
    lab.pool("P", "GP", memory=expandable(2048))
    lab.pool("CHILD", "P", memory=fixed(512))
    running = lab.vm("running", "P", on=True, memory=reserve(512))
    stopped = lab.vm("stopped", "P", memory=reserve(4096))
    assert runtime_of(lab, "GP") == figures(2048, 512, 2048, ROOT_MEMORY_MB)

    services.delete_pool(lab.get_pool("P"))

    gp = lab.get_pool("GP")
    assert not ResourcePool.objects.filter(name="P").exists()
    assert lab.get_pool("CHILD").parent_id == gp.pk
    assert fresh(running).resource_pool_id == fresh(stopped).resource_pool_id == gp.pk
    assert fresh(running).config_version == running.config_version + 1
    assert fresh(running).power_state == PowerState.POWERED_ON
    # GP now holds CHILD's 512 and the running VM's 512 itself; P's 2048 is gone.
    assert runtime_of(lab, "GP") == figures(1024, 512, 3072, ROOT_MEMORY_MB)
    assert runtime_of(lab)["reservationUsed"] == 4096


def test_deleting_a_pool_works_from_a_stale_copy(lab):
    """The admin deletes a selection one by one; a pool whose parent went first is stale."""
    lab.pool("OUTER")
    lab.pool("INNER", "OUTER")
    lab.pool("LEAF", "INNER")
    stale_inner = lab.get_pool("INNER")

    services.delete_pool(lab.get_pool("OUTER"))  # INNER moves up to the root
    services.delete_pool(stale_inner)

    assert lab.get_pool("LEAF").parent_id == lab.root.pk


def test_deleting_a_pool_refuses_to_make_two_siblings_of_the_same_name(lab):
    lab.pool("A")
    lab.pool("B")
    lab.pool("A", "B")  # B/A would land beside A
    before = database_state()

    with pytest.raises(InvalidOperation) as refused:
        services.delete_pool(lab.get_pool("B"))

    assert "A" in str(refused.value)
    assert database_state() == before


# --------------------------------------------------------------------------- shares


def percentages(lab: Lab, pool: str | None, resource: str) -> dict[str, float]:
    parent = lab.root if pool is None else lab.get_pool(pool)
    return {
        child.name: round(child.percent, 2)
        for child in share_percentages(services.snapshot(lab.host.pk), parent.pk, resource)
    }


def test_share_values_follow_vspheres_table(lab):
    for level, cpu, memory in (
        ("low", 2000, 81920),
        ("normal", 4000, 163840),
        ("high", 8000, 327680),
    ):
        pool = lab.pool(
            f"pool-{level}",
            cpu=Allocation(shares_level=level),
            memory=Allocation(shares_level=level),
        )
        assert (pool.cpu_shares, pool.memory_shares) == (cpu, memory)
    for level, per_vcpu, per_mb in (("low", 500, 5), ("normal", 1000, 10), ("high", 2000, 20)):
        vm = lab.vm(
            f"vm-{level}",
            vcpus=2,
            memory_mb=3000,
            cpu=reserve(0, shares_level=level),
            memory=reserve(0, shares_level=level),
        )
        assert (vm.cpu_shares, vm.memory_shares) == (2 * per_vcpu, 3000 * per_mb)
    custom = lab.vm("custom", cpu=reserve(0, shares_level="custom", shares=1234))
    assert (custom.cpu_shares_level, custom.cpu_shares) == ("custom", 1234)


def test_vm_shares_follow_its_size_when_it_is_resized(lab):
    vm = lab.vm("v", memory_mb=2048, vcpus=1, memory=reserve(0, shares_level="high"))
    assert (vm.cpu_shares, vm.memory_shares) == (1000, 40960)

    vm = services.reconfigure_vm(vm, memory_mb=4096, vcpus=4)

    assert (vm.cpu_shares, vm.memory_shares) == (4000, 81920)


def test_a_moved_vm_keeps_its_allocation_and_its_share_percentage_follows_its_new_siblings(lab):
    lab.pool("A")
    lab.pool("B", memory=Allocation(shares_level="high"))
    lab.vm("mover", memory_mb=4096, memory=reserve(1024, 3000, shares_level="normal"), on=True)
    lab.vm("neighbour", "A", memory_mb=12288)
    # Root's children: A 163840, B 327680, mover 40960 shares of memory.
    assert percentages(lab, None, "memory") == {"A": 30.77, "B": 61.54, "mover": 7.69}
    assert percentages(lab, "A", "memory") == {"neighbour": 100.0}
    before = lab.get_vm("mover")

    services.move_into(lab.get_pool("A"), vms=[before])

    after = lab.get_vm("mover")
    kept = (
        "memory_reservation",
        "memory_limit",
        "memory_shares_level",
        "memory_shares",
        "cpu_shares",
        "power_state",
    )
    assert [getattr(after, name) for name in kept] == [getattr(before, name) for name in kept]
    assert after.memory_shares == 40960
    assert percentages(lab, None, "memory") == {"A": 33.33, "B": 66.67}
    assert percentages(lab, "A", "memory") == {"neighbour": 75.0, "mover": 25.0}  # 122880 : 40960
    assert runtime_of(lab, "A") == figures(1024, 1024, ROOT_MEMORY_MB - 1024, ROOT_MEMORY_MB)


@pytest.mark.parametrize("name", ["bad\x01name", "tab\there", "bell\x07", "del\x7f"])
def test_names_with_control_characters_are_refused_everywhere(lab, name):
    """XML cannot carry them, so no vSphere client could read an inventory holding one."""
    before = database_state()
    with pytest.raises(InvalidOperation, match="control characters"):
        lab.pool(name)
    with pytest.raises((InvalidOperation, ValidationError), match="control characters"):
        lab.vm(name)
    with pytest.raises((InvalidOperation, ValidationError), match="control characters"):
        services.create_host(name=name, memory_mb=4096, cpu_mhz=4000)
    assert database_state() == before
