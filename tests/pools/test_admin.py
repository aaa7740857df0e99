"""The admin for pools and VMs, as a superuser: admission control shows on the form's fields."""

import pytest

from hostsim.models import PowerState, VirtualMachine
from pools.models import ResourcePool
from tests.pools.conftest import ROOT_MEMORY_MB, database_state, expandable, fixed, reserve

pytestmark = pytest.mark.django_db

POOLS = "/admin/pools/resourcepool/"
VMS = "/admin/hostsim/virtualmachine/"


def pool_form(lab, parent=None, **changes) -> dict:
    """What the pool form posts for a new pool with vSphere's defaults."""
    data = {
        "host": lab.host.pk,
        "parent": (parent or lab.root).pk,
        "name": "New pool",
        "cpu_reservation": 0,
        "cpu_limit": -1,
        "cpu_expandable": "on",
        "cpu_shares_level": "normal",
        "cpu_shares": 0,
        "memory_reservation": 0,
        "memory_limit": -1,
        "memory_expandable": "on",
        "memory_shares_level": "normal",
        "memory_shares": 0,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def vm_form(lab, **changes) -> dict:
    data = {
        "host": lab.host.pk,
        "resource_pool": lab.root.pk,
        "name": "new-vm",
        "memory_mb": 2048,
        "vcpus": 2,
        "guest_os": "linux",
        "workload": "idle",
        "mmu_mode": "automatic",
        "pshare_enabled": "on",
        "pshare_salt": "",
        "cpu_reservation": 0,
        "cpu_limit": -1,
        "cpu_shares_level": "normal",
        "cpu_shares": 0,
        "memory_reservation": 0,
        "memory_limit": -1,
        "memory_shares_level": "normal",
        "memory_shares": 0,
    }
    data.update(changes)
    return data


def form_errors(response) -> dict:
    assert response.status_code == 200, "expected the form again, with errors"
    form = response.context["adminform"].form
    return {field: " ".join(messages) for field, messages in form.errors.items()}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --------------------------------------------------------------------------- pools


@pytest.mark.parametrize(("reservation", "admitted"), [(4096, True), (4097, False)])
def test_a_pool_whose_reservation_does_not_fit_is_refused_on_the_memory_reservation(
    admin_client, lab, reservation, admitted
):
    parent = lab.pool("PARENT", memory=fixed(4096))
    before = database_state()

    response = admin_client.post(
        POOLS + "add/", pool_form(lab, parent, name="CHILD", memory_reservation=reservation)
    )

    if admitted:
        assert response.status_code == 302, form_errors(response)
        child = ResourcePool.objects.get(name="CHILD")
        assert (child.parent_id, child.memory_reservation, child.memory_shares) == (
            parent.pk,
            4096,
            163840,
        )
        return
    errors = form_errors(response)
    assert list(errors) == ["memory_reservation"]
    assert (
        '"PARENT" has 4096 MB unreserved memory, the operation needs 4097 MB'
        in errors["memory_reservation"]
    )
    assert database_state() == before


def test_invalid_pool_values_show_on_their_field(admin_client, lab):
    before = database_state()

    limit = form_errors(
        admin_client.post(
            POOLS + "add/", pool_form(lab, memory_reservation=2048, memory_limit=1024)
        )
    )
    custom = form_errors(
        admin_client.post(POOLS + "add/", pool_form(lab, cpu_shares_level="custom", cpu_shares=0))
    )
    negative = form_errors(admin_client.post(POOLS + "add/", pool_form(lab, cpu_reservation=-5)))

    assert list(limit) == ["memory_limit"] and "at least the reservation" in limit["memory_limit"]
    assert list(custom) == ["cpu_shares"]
    assert list(negative) == ["cpu_reservation"]
    assert database_state() == before


def test_a_pool_change_that_does_not_fit_shows_on_the_field_and_writes_nothing(admin_client, lab):
    pool = lab.pool("P", memory=fixed(4096))
    lab.vm("v", "P", on=True, memory=reserve(3072))
    before = database_state()
    data = pool_form(lab, name="P", memory_reservation=3071, memory_expandable=None, host=None)

    errors = form_errors(admin_client.post(POOLS + f"{pool.pk}/change/", data))

    assert list(errors) == ["memory_reservation"]
    assert "children already reserve 3072 MB" in errors["memory_reservation"]
    assert database_state() == before
    response = admin_client.post(POOLS + f"{pool.pk}/change/", {**data, "memory_reservation": 3072})
    assert response.status_code == 302
    assert ResourcePool.objects.get(pk=pool.pk).memory_reservation == 3072


def test_moving_a_pool_in_the_admin_is_admission_controlled(admin_client, lab):
    pool = lab.pool("MOVER", memory=fixed(2048))
    small = lab.pool("SMALL", memory=fixed(2047))
    before = database_state()
    data = pool_form(
        lab, small, name="MOVER", memory_reservation=2048, memory_expandable=None, host=None
    )

    errors = form_errors(admin_client.post(POOLS + f"{pool.pk}/change/", data))

    assert list(errors) == ["memory_reservation"]
    assert '"SMALL" has 2047 MB unreserved memory' in errors["memory_reservation"]
    assert database_state() == before


def test_the_changelist_shows_the_tree_with_reservations_and_share_percentages(admin_client, lab):
    lab.pool("A", memory=expandable(2048))
    lab.pool("B", memory=fixed(1024), cpu=expandable())
    lab.pool("A1", "A", memory=fixed(512))  # created after B, shown under A
    lab.vm("v", "A", on=True, memory=reserve(2048))

    response = admin_client.get(POOLS)

    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [pool.name for pool in rows] == ["Resources", "A", "A1", "B"]
    html = response.content.decode()
    assert '<span style="padding-left:0.0em">Resources</span>' in html
    assert '<span style="padding-left:1.5em">└ A</span>' in html
    assert '<span style="padding-left:3.0em">└ A1</span>' in html
    # A holds its VM's 2048 and A1's 512; the root holds eff(A) = 2560 and B's 1024.
    assert f"used 2560 MB · unreserved {ROOT_MEMORY_MB - 3584} MB" in html
    assert f"used 3584 MB · unreserved {ROOT_MEMORY_MB - 3584} MB" in html
    assert "used 0 MB · unreserved 1024 MB" in html
    assert html.count("50.0 %") == 4  # A and B split the root's CPU and memory shares evenly
    # A1 (a pool: 4000 MHz, 163840 MB shares) beside the 1-vCPU, 4096 MB VM (1000, 40960)
    assert html.count("80.0 %") == 2


def test_the_root_pool_cannot_be_deleted_or_edited(admin_client, lab):
    root = lab.root
    lab.pool("P")
    before = database_state()

    assert admin_client.get(POOLS + f"{root.pk}/delete/").status_code == 403
    assert admin_client.post(POOLS + f"{root.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        POOLS, {"action": "delete_selected", "_selected_action": [root.pk], "post": "yes"}
    )
    assert bulk.status_code == 403
    page = admin_client.get(POOLS + f"{root.pk}/change/")
    assert page.status_code == 200
    assert not [name for name in page.context["adminform"].form.fields]  # every field read-only
    response = admin_client.post(
        POOLS + f"{root.pk}/change/", {"name": "Mine", "memory_reservation": 1}
    )
    assert response.status_code == 200
    assert "root resource pool" in " ".join(response.context["adminform"].form.non_field_errors())

    assert database_state() == before


def test_deleting_a_pool_in_the_admin_hands_its_children_to_the_parent(admin_client, lab):
    pool = lab.pool("P", memory=expandable(1024))
    child = lab.pool("CHILD", "P", memory=fixed(512))
    vm = lab.vm("v", "P", on=True, memory=reserve(256))

    response = admin_client.post(POOLS + f"{pool.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ResourcePool.objects.filter(pk=pool.pk).exists()
    assert ResourcePool.objects.get(pk=child.pk).parent_id == lab.root.pk
    vm = VirtualMachine.objects.get(pk=vm.pk)
    assert (vm.resource_pool_id, vm.power_state) == (lab.root.pk, PowerState.POWERED_ON)


# --------------------------------------------------------------------------- virtual machines


def test_the_power_on_action_reports_success_and_refusals(admin_client, lab):
    lab.pool("P", memory=fixed(2048))
    fits = lab.vm("fits", "P", memory=reserve(2048))
    lab.vm("big", "P", memory=reserve(1))
    fits_data = {"action": "power_on", "_selected_action": [fits.pk]}

    response = admin_client.post(VMS, fits_data, follow=True)

    assert messages_of(response) == ['"fits" powered on.']
    assert VirtualMachine.objects.get(pk=fits.pk).power_state == PowerState.POWERED_ON
    before = database_state()
    big = lab.get_vm("big")

    response = admin_client.post(
        VMS, {"action": "power_on", "_selected_action": [big.pk]}, follow=True
    )

    assert messages_of(response) == [
        'Cannot power on "big": Insufficient resources to satisfy configured reservation: '
        '"P" has 0 MB unreserved memory, the operation needs 1 MB'
    ]
    assert database_state() == before
    response = admin_client.post(
        VMS, {"action": "power_off", "_selected_action": [fits.pk]}, follow=True
    )
    assert messages_of(response) == ['"fits" powered off.']
    assert VirtualMachine.objects.get(pk=fits.pk).power_state == PowerState.POWERED_OFF


def test_a_vm_form_with_a_reservation_above_its_memory_shows_the_error_on_that_field(
    admin_client, lab
):
    before = database_state()

    errors = form_errors(
        admin_client.post(VMS + "add/", vm_form(lab, memory_mb=2048, memory_reservation=2049))
    )

    assert list(errors) == ["memory_reservation"]
    assert "cannot exceed the configured memory (2048 MB)" in errors["memory_reservation"]
    assert database_state() == before
    data = vm_form(lab, memory_mb=2048, memory_reservation=2048)
    response = admin_client.post(VMS + "add/", data)
    assert response.status_code == 302
    assert VirtualMachine.objects.get(name="new-vm").memory_reservation == 2048


def test_a_running_vms_reservation_is_readmitted_by_the_vm_form(admin_client, lab):
    lab.pool("P", memory=fixed(2048))
    vm = lab.vm("v", "P", on=True, memory=reserve(1024), memory_mb=4096)
    before = database_state()
    data = vm_form(
        lab,
        resource_pool=lab.get_pool("P").pk,
        name="v",
        memory_mb=4096,
        vcpus=1,
        memory_reservation=2049,
    )
    del data["host"]

    errors = form_errors(admin_client.post(VMS + f"{vm.pk}/change/", data))

    assert list(errors) == ["memory_reservation"]
    assert (
        '"P" has 1024 MB unreserved memory, the operation needs 1025 MB'
        in errors["memory_reservation"]
    )
    assert database_state() == before


@pytest.mark.parametrize(("reservation", "admitted"), [(4096, True), (4097, False)])
def test_a_vm_moved_and_given_a_bigger_reservation_is_judged_in_its_new_pool(
    admin_client, lab, reservation, admitted
):
    """The form checks what saving does: the move, then the new allocation, in the new pool."""
    lab.pool("SMALL", memory=fixed(1024))
    roomy = lab.pool("ROOMY", memory=fixed(4096))
    vm = lab.vm("v", "SMALL", on=True, memory=reserve(1024), memory_mb=8192)
    before = database_state()
    data = vm_form(
        lab,
        resource_pool=roomy.pk,
        name="v",
        memory_mb=8192,
        vcpus=1,
        memory_reservation=reservation,
    )
    del data["host"]

    response = admin_client.post(VMS + f"{vm.pk}/change/", data)

    if admitted:
        assert response.status_code == 302, form_errors(response)
        moved = VirtualMachine.objects.get(pk=vm.pk)
        assert (moved.resource_pool_id, moved.memory_reservation, moved.power_state) == (
            roomy.pk,
            4096,
            PowerState.POWERED_ON,
        )
        return
    errors = form_errors(response)
    assert list(errors) == ["memory_reservation"]
    assert (
        '"ROOMY" has 3072 MB unreserved memory, the operation needs 3073 MB'
        in errors["memory_reservation"]
    )
    assert database_state() == before


@pytest.mark.parametrize(("reservation", "admitted"), [(4096, True), (4097, False)])
def test_a_pool_moved_and_given_a_bigger_reservation_is_judged_in_its_new_parent(
    admin_client, lab, reservation, admitted
):
    small = lab.pool("SMALL", memory=fixed(1024))
    roomy = lab.pool("ROOMY", memory=fixed(4096))
    pool = lab.pool("P", "SMALL", memory=fixed(1024))
    before = database_state()
    data = pool_form(
        lab, roomy, name="P", memory_reservation=reservation, memory_expandable=None, host=None
    )

    response = admin_client.post(POOLS + f"{pool.pk}/change/", data)

    if admitted:
        assert response.status_code == 302, form_errors(response)
        moved = ResourcePool.objects.get(pk=pool.pk)
        assert (moved.parent_id, moved.memory_reservation) == (roomy.pk, 4096)
        assert lab.usage("SMALL")["reservationUsed"] == 0
        return
    errors = form_errors(response)
    assert list(errors) == ["memory_reservation"]
    assert (
        '"ROOMY" has 3072 MB unreserved memory, the operation needs 3073 MB'
        in errors["memory_reservation"]
    )
    assert database_state() == before
    assert small.children.get() == pool
