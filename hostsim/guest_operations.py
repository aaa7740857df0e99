"""What a user asks a running guest to do (allocate, free or write memory): queued here, applied
by the next tick of the VM's host (hostsim.runtime).

A simulation concern, so it lives in hostsim, not with the admission-controlled changes of
pools.services; it refuses with the same types (hostsim.errors).
"""

from django.db import transaction

from hostsim.errors import InvalidOperation, ManagedObjectNotFound
from hostsim.models import GuestOperation, VirtualMachine

ACTIONS = tuple(GuestOperation.Action.values)  # allocate, free, write


def _bounds(vm: VirtualMachine, action: str) -> tuple[float, float, str]:
    """The amount an action takes: MB of the guest's memory, or the fraction of it to write."""
    if action == GuestOperation.Action.WRITE:
        return 0.0, 1.0, "fraction"
    return 1, vm.memory_mb, "mb"


def check_guest_operation(vm: VirtualMachine, action: str, amount: float) -> None:
    """Refuses an unknown action, an amount out of range or a powered-off VM; writes nothing."""
    if action not in ACTIONS:
        raise InvalidOperation(
            f"Unknown guest action {action!r}: use allocate, free or write.",
            {"action": "Choose allocate, free or write."},
        )
    low, high, field = _bounds(vm, action)
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not low <= amount <= high:
        raise InvalidOperation(
            f"{field} must be a number from {low} to {high}.",
            {field: f"Must be from {low} to {high}."},
        )
    if not vm.powered_on:
        raise InvalidOperation(f'"{vm.name}" is powered off; power it on first.')


@transaction.atomic
def request_guest_operation(
    vm: VirtualMachine, action: str, amount: float, requested_by: str = ""
) -> GuestOperation:
    """Queue a guest allocate/free/write for the next tick of the VM's host.

    Under the VM's row lock, so the VM is still there and still powered on when it is queued:
    power-off and delete (pools.services) write that row, so they wait for this to commit, or
    this waits for them and then sees the VM off or gone. This takes no other lock, so it cannot
    deadlock them (they lock the host's root pool, then the VM).
    """
    # The VM's row alone: its default ordering joins the host, whose row would be locked too.
    locking = VirtualMachine.objects.select_for_update(of=("self",)).order_by()
    current = locking.filter(pk=vm.pk).first()
    if current is None:
        raise ManagedObjectNotFound(f'The VM "{vm.name}" no longer exists (deleted meanwhile).')
    check_guest_operation(current, action, amount)
    return GuestOperation.objects.create(
        vm=current, action=action, amount=float(amount), requested_by=requested_by
    )
