"""Two admins at once never overcommit a pool (DESIGN section 5, Concurrency), on PostgreSQL.

Threads each run one service call on their own connection, released together by a barrier.
SQLite serialises writers by itself, so these run only where row locks matter.
"""

import threading

import pytest
from django.db import connection

from hostsim.models import PowerState, VirtualMachine
from pools import services
from pools.errors import AdmissionDenied, InvalidOperation, ManagedObjectNotFound
from tests.pools.conftest import Lab, fixed, fresh, reserve

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
TIMEOUT_S = 60


def race(calls: list) -> list:
    """Run each call in its own thread, all released at once; each thread's outcome, in order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait(timeout=TIMEOUT_S)
            outcomes[index] = call()
        except BaseException as exc:  # noqa: BLE001  every outcome is reported, none swallowed
            outcomes[index] = exc
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck: deadlock?"
    return outcomes


def test_concurrent_power_ons_never_push_a_fixed_pool_past_its_reservation():
    fits = 7
    lab = Lab()
    lab.pool("P", memory=fixed(fits * 512))
    vms = [lab.vm(f"vm-{i:02}", "P", memory=reserve(512), memory_mb=1024) for i in range(THREADS)]

    outcomes = race([lambda vm=vm: services.power_on(vm) for vm in vms])

    refusals = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, AdmissionDenied) for o in refusals), refusals
    assert len(refusals) == THREADS - fits
    powered_on = VirtualMachine.objects.filter(power_state=PowerState.POWERED_ON)
    assert powered_on.count() == fits
    assert {o.pk for o in outcomes if not isinstance(o, Exception)} == set(
        powered_on.values_list("pk", flat=True)
    )
    assert lab.usage("P") == {
        "reservationUsed": fits * 512,
        "reservationUsedForVm": fits * 512,
        "unreservedForPool": 0,
        "unreservedForVm": 0,
        "maxUsage": lab.usage()["maxUsage"],
    }
    for refusal in refusals:
        assert (refusal.pool, refusal.requested) == ("P", 512)


def test_raising_sibling_reservations_while_vms_power_on_never_overcommits_the_parent():
    lab = Lab()
    lab.pool("PARENT", memory=fixed(8192))
    siblings = [lab.pool(f"S{i}", "PARENT", memory=fixed(0)) for i in range(6)]
    vms = [
        lab.vm(f"vm-{i:02}", "PARENT", memory=reserve(1024), memory_mb=2048)
        for i in range(THREADS - len(siblings))
    ]
    calls = [lambda vm=vm: services.power_on(vm) for vm in vms]
    calls += [lambda pool=pool: services.update_pool(pool, memory=fixed(1024)) for pool in siblings]

    outcomes = race(calls)

    refusals = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, AdmissionDenied) for o in refusals), refusals
    running = VirtualMachine.objects.filter(power_state=PowerState.POWERED_ON).count()
    raised = sum(fresh(pool).memory_reservation == 1024 for pool in siblings)
    assert running + raised == 8  # every success took 1024 MB of 8192, and the pool was filled
    assert len(refusals) == len(calls) - 8
    assert lab.usage("PARENT")["reservationUsed"] == 8192
    assert lab.usage("PARENT")["unreservedForVm"] == 0


def test_deleting_a_host_beside_power_ons_never_removes_a_running_vm():
    for round_ in range(5):
        lab = Lab(name=f"esxi-{round_}")
        vms = [lab.vm(f"vm-{i}", memory=reserve(256), memory_mb=1024) for i in range(3)]

        outcomes = race(
            [lambda host=lab.host: services.delete_host(host)]
            + [lambda vm=vm: services.power_on(vm) for vm in vms]
        )

        deleted, *powered = outcomes
        if deleted is None:  # the delete went first: nothing is left to power on
            assert all(isinstance(o, ManagedObjectNotFound) for o in powered), powered
            assert not VirtualMachine.objects.filter(host_id=lab.host.pk).exists()
        else:  # a power-on went first: the host keeps its VMs
            assert isinstance(deleted, InvalidOperation) and "Power off" in str(deleted), deleted
            assert not any(isinstance(o, BaseException) for o in powered), powered
            on = VirtualMachine.objects.filter(host_id=lab.host.pk, power_state="poweredOn")
            assert on.count() == len(vms)
