"""The resource tree the pools hand the engine: entitlement divided down it (DESIGN.md 4b, 5)."""

import pytest
from engine_testkit import MB, add_vm, assert_counter_invariants, boot, make_host

from hostsim.engine import EngineError


def _pool(name, vms=(), children=(), reservation_mb=0, limit_mb=-1, shares=None):
    return {
        "name": name,
        "reservation_mb": reservation_mb,
        "limit_mb": limit_mb,
        "shares": shares,
        "expandable": True,
        "vms": list(vms),
        "children": list(children),
    }


@pytest.fixture
def contended():
    """Four busy 1 GB VMs on a 2 GB host."""
    sim = make_host(memory_mb=2048)
    vms = [add_vm(sim, f"vm{i}", memory_mb=1024, workload="toucher") for i in range(4)]
    boot(sim)
    for vm in vms:
        sim.guest_allocate(vm, 700)
        sim.guest_write(vm, 1.0)

    def run(minutes: int) -> None:
        for _ in range(minutes):
            for vm in vms:
                sim.guest_write(vm, 1.0)
            sim.step(60)

    return sim, vms, run


def _reclaimed_mb(sim, vm) -> float:
    counters = sim.vm_counters(vm)
    return (counters["mem.vmmemctl"] + counters["mem.swapped"] + counters["mem.compressed"]) / MB


def _entitled_mb(sim, vm) -> float:
    return sim.vm_counters(vm)["mem.entitlement"] / MB


def test_sibling_pools_divide_memory_by_their_shares(contended):
    sim, (a, b, c, d), run = contended
    high = _pool("high", vms=[a, b], shares=8000)
    low = _pool("low", vms=[c, d], shares=4000)
    sim.set_resource_tree(_pool("root", children=[high, low]))
    run(10)
    high_mb = _entitled_mb(sim, a) + _entitled_mb(sim, b)
    low_mb = _entitled_mb(sim, c) + _entitled_mb(sim, d)
    assert high_mb / low_mb == pytest.approx(2, rel=0.05)
    granted = [sim.vm_counters(vm)["mem.granted"] for vm in (a, b, c, d)]
    assert (granted[0] + granted[1]) / (granted[2] + granted[3]) == pytest.approx(2, rel=0.2)
    assert_counter_invariants(sim)
    sim.audit()


def test_a_pool_limit_caps_its_vms_even_on_a_host_with_room():
    sim = make_host(memory_mb=4096)
    a = add_vm(sim, "a", memory_mb=1024, workload="toucher")
    b = add_vm(sim, "b", memory_mb=1024, workload="toucher")
    boot(sim)
    sim.set_resource_tree(_pool("root", children=[_pool("capped", vms=[a, b], limit_mb=800)]))
    for vm in (a, b):
        sim.guest_allocate(vm, 700)
        sim.guest_write(vm, 1.0)
    sim.step(60)
    assert _entitled_mb(sim, a) + _entitled_mb(sim, b) <= 800 + 1
    held = (sim.vm_counters(a)["mem.granted"] + sim.vm_counters(b)["mem.granted"]) / MB
    assert held <= 800 + 1
    assert sim.host_counters()["mem.state"] == 0  # nothing else asked for the memory
    sim.audit()


def test_a_pool_reservation_protects_its_vms(contended):
    sim, (a, b, c, d), run = contended
    sim.set_resource_tree(
        _pool("root", children=[_pool("gold", vms=[a], reservation_mb=900)], vms=[b])
    )
    run(10)
    assert _entitled_mb(sim, a) >= 900  # all it can use: it is entitled to the pool's 900 MB
    reserved = sim.vm_counters(a)
    for other in (b, c, d):
        assert sim.vm_counters(other)["mem.granted"] < reserved["mem.granted"] / 1.5
        assert _reclaimed_mb(sim, other) > 5 * _reclaimed_mb(sim, a)
    sim.audit()


def test_vms_the_tree_does_not_name_sit_under_the_root(contended):
    sim, (a, b, c, d), run = contended
    tree = _pool("root", children=[_pool("one", vms=[a])])
    sim.set_resource_tree(tree)
    normal = 163_840  # a pool's normal memory shares, as a 16 GB VM's (DESIGN.md 5)
    assert sim.resource_tree() == tree | {
        "shares": normal,
        "children": [tree["children"][0] | {"shares": normal}],
    }
    run(3)
    # a is alone in its pool, the pool a sibling of three VMs with normal (VM) shares
    assert _entitled_mb(sim, b) == pytest.approx(_entitled_mb(sim, c), rel=0.05)
    sim.remove_vm(a)
    assert sim.resource_tree()["children"][0]["vms"] == []
    sim.audit()


def _invalid_trees(vms):
    a, b = vms[0], vms[1]
    return {
        "not a dict": ["root"],
        "unknown key": _pool("root") | {"colour": "red"},
        "no name": _pool(""),
        "unknown vm": _pool("root", vms=[999]),
        "vm id of the wrong type": _pool("root", vms=["1"]),
        "a vm twice": _pool("root", vms=[a], children=[_pool("p", vms=[a])]),
        "negative reservation": _pool("root", children=[_pool("p", reservation_mb=-1)]),
        "reservation beyond the host": _pool("root", children=[_pool("p", reservation_mb=4096)]),
        "limit below reservation": _pool(
            "root", children=[_pool("p", reservation_mb=100, limit_mb=50)]
        ),
        "zero shares": _pool("root", children=[_pool("p", shares=0)]),
        "shares not a number": _pool("root", children=[_pool("p", shares="high")]),
        "expandable not a bool": _pool("root") | {"expandable": "yes"},
        "children not a list": _pool("root") | {"children": {"p": {}}},
        "child not a dict": _pool("root") | {"children": ["p"]},
        "vms not a list": _pool("root") | {"vms": a},
        "a bad pool deep down": _pool(
            "root", children=[_pool("p", vms=[b], children=[_pool("q", limit_mb=-5)])]
        ),
    }


@pytest.mark.parametrize("case", list(_invalid_trees([1, 2])))
def test_an_invalid_resource_tree_is_refused_and_changes_nothing(contended, case):
    sim, vms, _ = contended
    sim.set_resource_tree(_pool("root", children=[_pool("kept", vms=[vms[0]])]))
    state = sim.snapshot()
    with pytest.raises(EngineError):
        sim.set_resource_tree(_invalid_trees(vms)[case])
    assert sim.snapshot() == state
