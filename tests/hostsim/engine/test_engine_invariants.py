"""The counter invariants of DESIGN.md 4 hold after every operation of random sessions.

`HostSim.audit()` also recomputes every frame's reference count from the pmaps (refcount == number
of pmap entries pointing at the frame), every VM's counters from its pages, the share tables and
the guests' page lists, and compares them with the running totals the engine keeps.
"""

from engine_testkit import add_vm, assert_counter_invariants, make_host
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostsim.engine import EngineError, HostSim

# Sharing domains of every kind: with salting 2, "win" and "lab" share only inside themselves,
# "web" and "job" share with each other (same salt), "off" never shares.
VMS = (
    dict(name="win", memory_mb=96, guest_os="windows", workload="database"),
    dict(name="web", memory_mb=96, guest_os="linux", workload="webserver", salt="team"),
    dict(name="job", memory_mb=64, guest_os="linux", workload="batch", vcpus=2, salt="team"),
    dict(name="lab", memory_mb=64, guest_os="windows", workload="toucher"),
    dict(name="off", memory_mb=32, guest_os="linux", workload="toucher", pshare=False),
)

vm_index = st.integers(0, len(VMS) - 1)
operations = st.one_of(
    st.tuples(st.just("step"), st.sampled_from([5, 20, 60])),
    st.tuples(st.just("scan"), st.sampled_from([20, 300])),
    st.tuples(st.just("full_scan")),
    st.tuples(st.just("allocate"), vm_index, st.integers(0, 48)),
    st.tuples(st.just("free"), vm_index, st.integers(0, 48)),
    st.tuples(st.just("write"), vm_index, st.sampled_from([0.0, 0.25, 1.0])),
    st.tuples(st.just("power"), vm_index),
    st.tuples(st.just("pshare"), vm_index, st.booleans()),
    st.tuples(
        st.just("workload"),
        vm_index,
        st.sampled_from(["idle", "webserver", "database", "batch", "toucher"]),
    ),
    st.tuples(st.just("settings"), st.sampled_from([0, 1, 2]), st.sampled_from([10, 60])),
)


def _apply(sim: HostSim, ids: list[int], operation: tuple) -> None:
    kind, *args = operation
    if kind == "step":
        sim.step(args[0])
    elif kind == "scan":
        sim.share_scan(args[0])
    elif kind == "full_scan":
        sim.share_scan_full()
    elif kind == "allocate":
        sim.guest_allocate(ids[args[0]], args[1])
    elif kind == "free":
        sim.guest_free(ids[args[0]], args[1])
    elif kind == "write":
        sim.guest_write(ids[args[0]], args[1])
    elif kind == "power":
        vm = ids[args[0]]
        (sim.power_off if sim.is_powered_on(vm) else sim.power_on)(vm)
    elif kind == "pshare":
        sim.set_vm(ids[args[0]], pshare=args[1])
    elif kind == "workload":
        sim.set_vm(ids[args[0]], workload=args[1])
    elif kind == "settings":
        sim.set_settings(**{"Mem.ShareForceSalting": args[0], "Mem.ShareScanTime": args[1]})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    salting=st.sampled_from([0, 1, 2]),
    seed=st.integers(0, 2**16),
    session=st.lists(operations, max_size=14),
)
def test_the_invariants_hold_after_every_operation(salting, seed, session):
    sim = make_host(memory_mb=512, seed=seed, Mem_ShareForceSalting=salting, Mem_ShareScanTime=10)
    ids = [add_vm(sim, **config) for config in VMS]
    sim.step(20)
    for operation in session:
        state = sim.snapshot()
        try:
            _apply(sim, ids, operation)
        except EngineError:
            # A refusal (the guest of a powered-off VM, no room for private copies ...) changes
            # nothing.
            assert sim.snapshot() == state
        assert_counter_invariants(sim)
        sim.audit()


# Overcommitted: 880 MB of VMs on a 512 MB host, with every reclamation path in reach.
CONTENDED_VMS = (
    dict(name="win", memory_mb=256, guest_os="windows", workload="database", balloon=False),
    dict(name="web", memory_mb=192, guest_os="linux", workload="webserver", salt="team"),
    dict(name="job", memory_mb=176, guest_os="linux", workload="batch", salt="team"),
    dict(name="lab", memory_mb=256, guest_os="linux", workload="toucher", reservation_mb=48),
)
contended_vm = st.integers(0, len(CONTENDED_VMS) - 1)
contended_operations = st.one_of(
    st.tuples(st.just("step"), st.sampled_from([5, 20, 60])),
    st.tuples(st.just("scan"), st.sampled_from([20, 300])),
    st.tuples(st.just("allocate"), contended_vm, st.integers(0, 200)),
    st.tuples(st.just("free"), contended_vm, st.integers(0, 100)),
    st.tuples(st.just("write"), contended_vm, st.sampled_from([0.25, 1.0])),
    st.tuples(st.just("power"), contended_vm),
    st.tuples(st.just("limit"), contended_vm, st.sampled_from([-1, 64, 128])),
    st.tuples(st.just("reservation"), contended_vm, st.sampled_from([0, 32, 64])),
    st.tuples(st.just("shares"), contended_vm, st.sampled_from([None, 100, 20_000])),
    st.tuples(st.just("balloon"), contended_vm, st.booleans()),
    st.tuples(st.just("pshare"), contended_vm, st.booleans()),
    st.tuples(
        st.just("settings"),
        st.sampled_from(["Mem.CtlMaxPercent", "Mem.MemZipMaxPct", "Mem.IdleTax"]),
        st.sampled_from([5, 30, 65]),
    ),
    st.tuples(st.just("zip"), st.sampled_from([0, 1])),
    st.tuples(st.just("pool"), contended_vm, st.sampled_from([-1, 100])),
)


def _apply_contended(sim: HostSim, ids: list[int], operation: tuple) -> None:
    kind, *args = operation
    if kind in ("limit", "reservation"):
        vm = ids[args[0]]
        sim.set_vm(vm, **{f"{kind}_mb": args[1]})
    elif kind in ("shares", "balloon", "pshare"):
        sim.set_vm(ids[args[0]], **{kind: args[1]})
    elif kind == "settings":
        sim.set_settings(**{args[0]: args[1]})
    elif kind == "zip":
        sim.set_settings(**{"Mem.MemZipEnable": args[0]})
    elif kind == "pool":
        pool = {"name": "p", "limit_mb": args[1], "vms": [ids[args[0]]]}
        sim.set_resource_tree({"name": "root", "children": [pool]})
    elif kind == "allocate":
        sim.guest_allocate(ids[args[0]], args[1])
        sim.guest_write(ids[args[0]], 0.5)  # half of it data: nothing to share
    else:
        _apply(sim, ids, operation)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), session=st.lists(contended_operations, max_size=14))
def test_the_invariants_hold_on_an_overcommitted_host_after_every_operation(seed, session):
    sim = make_host(memory_mb=512, seed=seed, Mem_ShareScanTime=10)
    ids = [add_vm(sim, **config) for config in CONTENDED_VMS]
    sim.step(40)
    for operation in session:
        state = sim.snapshot()
        try:
            _apply_contended(sim, ids, operation)
        except EngineError:
            # e.g. a reservation the host cannot hold: refused, and nothing changed
            assert sim.snapshot() == state
        assert_counter_invariants(sim)
        sim.audit()
        if operation[0] == "step" and operation[1] >= 20:
            # a limit is enforced within a balance period, on any host
            for vm in ids:
                limit = sim.vm_config(vm).limit_mb
                if sim.is_powered_on(vm) and limit >= 0:
                    assert sim.vm_counters(vm)["mem.granted"] <= limit * 1024
