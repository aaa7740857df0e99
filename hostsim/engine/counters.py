"""What the engine reports: vSphere `mem` counters (KB), the lab's own counters, esxtop's memory screen.

Definitions follow the vSphere Resource Management guide, "Measuring and Differentiating Types of
Memory Usage", and DESIGN.md 4. Everything is read from running totals the engine keeps as pages
change; nothing here walks memory. `mem.usage` and `lab.mmu.overhead` are plain percentages
(floats, 2 decimals), everything else is an int number of KB.
"""

from hostsim.engine import mmu
from hostsim.engine.machine import PAGE_SIZE_KB, PAGES_PER_MB, MachineMemory
from hostsim.engine.vmm import VirtualMachine

VM_COUNTERS = (
    "mem.granted",  # guest pages mapped to machine frames
    "mem.consumed",  # granted minus sharing savings, each shared frame charged in equal parts
    "mem.shared",  # guest pages mapped to a frame other guest pages map too
    "mem.zero",  # shared guest pages holding the zero page
    "mem.active",  # sampled estimate of recently touched guest memory
    "mem.overhead",  # host memory for the VM's own virtualization structures
    "mem.vmmemctl",  # balloon: the lab does not reclaim yet
    "mem.swapped",  # likewise
    "mem.usage",  # active / configured, percent
    "lab.mmu.overhead",  # % of vCPU time lost to MMU virtualization
    "lab.guest.used",  # guest physical memory on the guest OS's allocated list
)

HOST_COUNTERS = (
    "mem.granted",  # sum over powered-on VMs
    "mem.consumed",  # machine memory in use: total minus free (VM frames, overhead, VMkernel)
    "mem.shared",  # sum over VMs
    "mem.sharedcommon",  # machine frames backing shared pages
    "mem.zero",
    "mem.active",
    "mem.overhead",
    "mem.vmmemctl",
    "mem.swapped",
    "mem.usage",  # consumed / total capacity, percent
    "mem.totalCapacity",  # the host's machine memory
    "mem.sysUsage",  # the VMkernel's own memory
    "lab.pshare.saving",  # shared - sharedcommon: what page sharing saves (esxtop PSHARE saving)
)


def active_pages(vm: VirtualMachine) -> int:
    return round(vm.active.estimate * vm.pages)


def vm_counters(vm: VirtualMachine | None) -> dict:
    if vm is None:  # powered off: nothing granted, nothing running
        return {
            name: (0.0 if name in ("mem.usage", "lab.mmu.overhead") else 0) for name in VM_COUNTERS
        }
    active = active_pages(vm)
    return {
        "mem.granted": vm.granted * PAGE_SIZE_KB,
        "mem.consumed": round(vm.consumed * PAGE_SIZE_KB),
        "mem.shared": vm.shared * PAGE_SIZE_KB,
        "mem.zero": vm.zero * PAGE_SIZE_KB,
        "mem.active": active * PAGE_SIZE_KB,
        "mem.overhead": vm.overhead_pages * PAGE_SIZE_KB,
        "mem.vmmemctl": 0,
        "mem.swapped": 0,
        "mem.usage": round(100.0 * active / vm.pages, 2),
        "lab.mmu.overhead": round(mmu.overhead_percent(vm.mmu_mode, *vm.mmu_rates), 2),
        "lab.guest.used": vm.guest.used_pages * PAGE_SIZE_KB,
    }


def host_counters(machine: MachineMemory, running: list[VirtualMachine]) -> dict:
    overhead = sum(vm.overhead_pages for vm in running)
    shared = sum(vm.shared for vm in running)
    consumed = machine.in_use + machine.reserved
    return {
        "mem.granted": sum(vm.granted for vm in running) * PAGE_SIZE_KB,
        "mem.consumed": consumed * PAGE_SIZE_KB,
        "mem.shared": shared * PAGE_SIZE_KB,
        "mem.sharedcommon": machine.shared_frames * PAGE_SIZE_KB,
        "mem.zero": sum(vm.zero for vm in running) * PAGE_SIZE_KB,
        "mem.active": sum(active_pages(vm) for vm in running) * PAGE_SIZE_KB,
        "mem.overhead": overhead * PAGE_SIZE_KB,
        "mem.vmmemctl": 0,
        "mem.swapped": 0,
        "mem.usage": round(100.0 * consumed / machine.frames, 2),
        "mem.totalCapacity": machine.frames * PAGE_SIZE_KB,
        "mem.sysUsage": (machine.reserved - overhead) * PAGE_SIZE_KB,
        "lab.pshare.saving": (shared - machine.shared_frames) * PAGE_SIZE_KB,
    }


def esxtop(machine: MachineMemory, running: list[tuple[str, VirtualMachine]]) -> dict:
    """esxtop's memory screen (`m`), in MB: PMEM, PSHARE and one row per running VM."""
    vms = [vm for _, vm in running]
    overhead = sum(vm.overhead_pages for vm in vms)
    shared = sum(vm.shared for vm in vms)
    total = machine.frames // PAGES_PER_MB
    vmk = round((machine.reserved - overhead) / PAGES_PER_MB)
    other = round((machine.in_use + overhead) / PAGES_PER_MB)

    def mb(pages: float) -> float:
        return round(pages / PAGES_PER_MB, 2)

    return {
        "PMEM": {"total": total, "vmk": vmk, "other": other, "free": total - vmk - other},
        "PSHARE": {
            "shared": round(shared / PAGES_PER_MB),
            "common": round(machine.shared_frames / PAGES_PER_MB),
            "saving": round((shared - machine.shared_frames) / PAGES_PER_MB),
        },
        "vms": [
            {
                "id": vm.id,
                "name": name,
                "memsz": mb(vm.pages),
                "grant": mb(vm.granted),
                "consumed": mb(vm.consumed),
                "shared": mb(vm.shared),
                "zero": mb(vm.zero),
                "shrdsvd": mb(vm.granted - vm.consumed),
                "tchd": mb(active_pages(vm)),
                "overhead": mb(vm.overhead_pages),
            }
            for name, vm in running
        ],
    }
