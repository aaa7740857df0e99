"""Each service verb is a check that may refuse and writes nothing, and a do that takes the locks,
calls the check and writes (pools.services); the admin's forms ask the check, on the tree locked
until the request's save commits."""

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from pools import services
from pools.errors import AdmissionDenied, InvalidOperation
from pools.models import ResourcePool
from tests.pools.conftest import Lab, database_state, expandable, fixed, fresh, reserve
from tests.pools.test_admin import pool_form


def _checked(check, target, *args, **kwargs):
    """What `check` says on the tree as locked now: None, or the refusal it raises."""
    with transaction.atomic():
        tree, current = services.locked(target)
        try:
            check(tree, current, *args, **kwargs)
        except (AdmissionDenied, InvalidOperation) as refusal:
            return refusal
    return None


def _done(do, target, *args, **kwargs):
    try:
        do(target, *args, **kwargs)
    except (AdmissionDenied, InvalidOperation) as refusal:
        return refusal
    return None


def _case(verb: str, target, *args, admitted: bool, **kwargs):
    check, do = getattr(services, f"check_{verb}"), getattr(services, verb)
    return check, do, target, args, kwargs, admitted


def _verbs(lab):
    """(check, do, target, args, kwargs, admitted) for every verb the admin asks before saving."""
    small = lab.pool("SMALL", memory=fixed(1024))
    roomy = lab.pool("ROOMY", memory=fixed(4096))
    vm = lab.vm("v", "SMALL", on=True, memory=reserve(1024), memory_mb=8192)
    return [
        _case("create_pool", roomy, "N", None, fixed(4096), admitted=True),
        _case("create_pool", roomy, "N", None, fixed(4097), admitted=False),
        _case("update_pool", small, memory=fixed(2048), admitted=True),
        _case("update_pool", small, memory=fixed(512), admitted=False),
        _case("update_host", lab.host, memory_mb=8192, admitted=False),  # a VM is running
        _case("create_vm", lab.host, name="w", admitted=True),
        _case("create_vm", lab.host, name="v", admitted=False),
        _case("move_and_reconfigure_vm", vm, roomy, memory=reserve(4096), admitted=True),
        _case("move_and_reconfigure_vm", vm, roomy, memory=reserve(4097), admitted=False),
        _case("move_and_update_pool", small, roomy, memory=fixed(4096), admitted=True),
        _case("move_and_update_pool", small, roomy, memory=fixed(4097), admitted=False),
    ]


@pytest.mark.parametrize("case", range(11))
def test_a_check_writes_nothing_and_refuses_exactly_what_its_service_refuses(db, case):
    lab = Lab()
    check, do, target, args, kwargs, admitted = _verbs(lab)[case]
    before = database_state()

    said = _checked(check, target, *args, **kwargs)

    assert database_state() == before  # the check wrote nothing, admitted or not
    done = _done(do, target, *args, **kwargs)
    if admitted:
        assert said is None and done is None
        assert database_state() != before
        return
    assert (type(said), str(said), vars(said)) == (type(done), str(done), vars(done))
    assert database_state() == before


def test_a_move_then_update_refused_in_the_new_parent_does_not_move_either(lab):
    lab.pool("SMALL", memory=fixed(1024))
    roomy = lab.pool("ROOMY", memory=fixed(4096))
    moving = lab.pool("MOVING", "SMALL", memory=expandable(512))
    before = database_state()

    with pytest.raises(AdmissionDenied):
        services.move_and_update_pool(moving, roomy, name="MOVED", memory=fixed(4097))

    assert database_state() == before
    moved = services.move_and_update_pool(moving, roomy, name="MOVED", memory=fixed(4096))
    assert (fresh(moved).parent_id, fresh(moved).name, fresh(moved).memory_reservation) == (
        roomy.pk,
        "MOVED",
        4096,
    )


def test_the_same_pool_or_none_is_no_move(lab):
    pool = lab.pool("P", memory=expandable(0))
    for parent in (None, lab.root):
        services.move_and_update_pool(pool, parent, memory=expandable(100))
        assert fresh(pool).parent_id == lab.root.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_admin_forms_check_holds_the_hosts_lock_until_the_request_ends():
    """The form's clean() locks the host's tree for the check; within the admin's transaction the
    lock lasts to the save, so no change can slip in between what the form said and the save."""
    from pools.admin import PoolForm

    lab = Lab()
    pool = lab.pool("P", memory=expandable(0))
    checked, release, seen = threading.Event(), threading.Event(), {}

    def admin_request():
        try:
            with transaction.atomic():  # as ModelAdmin.changeform_view
                form = PoolForm(pool_form(lab, name="P", memory_reservation=100), instance=pool)
                seen["valid"] = form.is_valid()
                checked.set()
                release.wait(30)
        finally:
            checked.set()
            connection.close()

    thread = threading.Thread(target=admin_request)
    thread.start()
    try:
        assert checked.wait(30)
        assert seen["valid"]
        with pytest.raises(DatabaseError, match="could not obtain lock"), transaction.atomic():
            ResourcePool.objects.select_for_update(nowait=True).get(pk=lab.root.pk)
    finally:
        release.set()
        thread.join(30)
    with transaction.atomic():  # the request ended: the tree is free again
        ResourcePool.objects.select_for_update(nowait=True).get(pk=lab.root.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_guest_operation_waits_for_a_power_off_in_flight_and_then_is_refused():
    """hostsim.guest_operations queues under the VM's row lock, which power-off writes: a request
    that comes in while a power-off is being written waits for it, then sees the VM off."""
    from hostsim.guest_operations import request_guest_operation
    from hostsim.models import GuestOperation, PowerState, VirtualMachine

    vm = Lab().vm("v", on=True)
    outcome = {}

    def guest_request():
        try:
            outcome["queued"] = request_guest_operation(vm, "allocate", 64)
        except InvalidOperation as refusal:
            outcome["refused"] = str(refusal)
        finally:
            connection.close()

    thread = threading.Thread(target=guest_request)
    with transaction.atomic():  # a power-off between its write and its commit
        VirtualMachine.objects.filter(pk=vm.pk).update(power_state=PowerState.POWERED_OFF)
        thread.start()
        thread.join(1)
        assert thread.is_alive(), "the guest request did not wait for the power-off"
    thread.join(30)
    assert outcome == {"refused": '"v" is powered off; power it on first.'}
    assert not GuestOperation.objects.exists()
