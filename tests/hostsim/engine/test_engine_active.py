"""Active memory: estimated from sampled pages with fast and slow moving averages (Waldspurger
2002, 5.3)."""

from engine_testkit import MB, add_vm, make_host


def test_a_busy_vm_is_estimated_far_more_active_than_an_idle_one():
    sim = make_host(memory_mb=2048)
    busy = add_vm(sim, "busy", memory_mb=512, workload="batch")
    idle = add_vm(sim, "idle", memory_mb=512, workload="idle")
    sim.step(900)
    assert sim.vm_counters(busy)["mem.active"] > 100 * MB
    assert sim.vm_counters(idle)["mem.active"] < sim.vm_counters(busy)["mem.active"] / 3


def test_active_memory_falls_slowly_when_a_vm_goes_idle():
    sim = make_host(memory_mb=2048)
    vm = add_vm(sim, memory_mb=512, workload="batch")
    sim.step(900)
    busy = sim.vm_counters(vm)["mem.active"]
    sim.set_vm(vm, workload="idle")
    sim.step(120)
    shortly_after = sim.vm_counters(vm)["mem.active"]
    sim.step(1800)
    much_later = sim.vm_counters(vm)["mem.active"]
    assert shortly_after > busy / 2  # the slow average still remembers the busy period
    assert much_later < shortly_after / 2


def test_active_memory_is_a_share_of_configured_memory_and_usage_says_which_in_hundredths():
    sim = make_host()
    vm = add_vm(sim, memory_mb=256, workload="database")
    sim.step(600)
    counters = sim.vm_counters(vm)
    assert 0 < counters["mem.active"] <= 256 * MB
    # Percent counters are integer hundredths of a percent, as vSphere's QueryPerf returns them.
    assert counters["mem.usage"] == round(10_000 * counters["mem.active"] / (256 * MB))
    assert isinstance(counters["mem.usage"], int)
    host = sim.host_counters()
    assert host["mem.active"] == counters["mem.active"]
    assert host["mem.usage"] == round(10_000 * host["mem.consumed"] / (1024 * MB))


def test_pages_the_toucher_writes_count_as_active():
    sim = make_host(memory_mb=2048)
    vm = add_vm(sim, memory_mb=1024, workload="toucher")
    sim.step(120)
    quiet = sim.vm_counters(vm)["mem.active"]
    sim.guest_allocate(vm, 768)
    for _ in range(3):  # a few sampling periods, writing all the while
        sim.guest_write(vm, 1.0)
        sim.step(60)
    assert sim.vm_counters(vm)["mem.active"] > quiet + 300 * MB
