"""vCenter's performance counter table, and which of its counters the lab keeps samples of.

The rows are a vCenter Server's own (`govc object.collect -s -dump PerformanceManager:PerfMgr
perfCounter`, the capture govmomi's vcsim serves from simulator/vpx/performance_manager.go):
the same keys, names, rollups, units, statistics types, levels and labels. Not every group of the
real table is here, only those clients look counters up in: cpu, mem, disk, net, sys, power,
datastore and virtualDisk. vmware_exporter, for one, resolves 36 names of them (cpu.ready.summation
... net.errorsTx.summation) and drops its whole scrape when one is missing.

A counter has data in the lab when the counter catalogue (dashboard.counters) keeps a counter of
the same name in the same unit: the lab names its counters as vSphere does. Statistics of a
rolled-up interval are stored as `mem.granted.average` / `.minimum` / `.maximum`; a real-time
row holds one value per counter, which also answers the `none` and `latest` rollups (vCenter
keeps those only for the real-time hour; vSphere Monitoring and Performance, "Data Collection
Intervals"). Percentages are hundredths of a percent and memory KB, as QueryPerf returns them.
"""

from dataclasses import dataclass

from dashboard.counters import CATALOGUE
from hostsim.models import INTERVAL_RETENTION, REALTIME_INTERVAL

GROUPS = {
    "cpu": "CPU",
    "mem": "Memory",
    "disk": "Disk",
    "net": "Network",
    "sys": "System",
    "power": "Power",
    "datastore": "Datastore",
    "virtualDisk": "Virtual disk",
}

# PerformanceManagerUnit: key -> (label, summary), as vCenter describes them.
UNITS = {
    "percent": ("%", "Percentage"),
    "kiloBytes": ("KB", "Kilobyte"),
    "megaBytes": ("MB", "Megabyte"),
    "kiloBytesPerSecond": ("KBps", "Kilobytes per second"),
    "megaHertz": ("MHz", "Megahertz"),
    "millisecond": ("ms", "Millisecond"),
    "microsecond": ("µs", "Microsecond"),
    "second": ("s", "Second"),
    "number": ("num", "Number"),
    "watt": ("W", "Watt"),
    "joule": ("J", "Joule"),
}

# The catalogue's units (its labels, or vSphere's own words) under their vSphere keys.
CATALOGUE_UNITS = {
    "KB": "kiloBytes",
    "MB": "megaBytes",
    "KBps": "kiloBytesPerSecond",
    "%": "percent",
    "percent": "percent",
    "num": "number",
    "number": "number",
}

# PerfSummaryType and PerfStatsType, for PerformanceManager.description.
ROLLUP_TYPES = {
    "average": ("Average", "Average"),
    "maximum": ("Maximum", "Maximum"),
    "minimum": ("Minimum", "Minimum"),
    "latest": ("Latest", "Latest"),
    "summation": ("Summation", "Summation"),
    "none": ("None", "None"),
}
STATS_TYPES = {
    "absolute": ("Absolute", "Absolute value"),
    "delta": ("Delta", "Delta value"),
    "rate": ("Rate", "Rate value"),
}

# One line per counter, or per run of consecutive keys that share a name:
#   first key, group, name, rollup[/rollup...], statsType, unit, level[/...], perDeviceLevel[/...]
# "28 mem granted none/average/minimum/maximum ... 4/2/4/4 4/3/4/4" is keys 28 to 31.
_TABLE = """
1 cpu usage none/average/minimum/maximum rate percent 4/1/4/4 4/3/4/4
5 cpu usagemhz none/average/minimum/maximum rate megaHertz 4/1/4/4 4/3/4/4
9 cpu reservedCapacity average absolute megaHertz 2 3
10 cpu system summation delta millisecond 3 3
11 cpu wait summation delta millisecond 3 3
12 cpu ready summation delta millisecond 1 3
13 cpu idle summation delta millisecond 2 3
14 cpu used summation delta millisecond 3 3
15 cpu capacity.provisioned average absolute megaHertz 4 4
16 cpu capacity.entitlement average absolute megaHertz 4 4
17 cpu capacity.usage average rate megaHertz 4 4
18 cpu capacity.demand average absolute megaHertz 4 4
19 cpu capacity.contention average rate percent 4 4
20 cpu corecount.provisioned average absolute number 4 4
21 cpu corecount.usage average absolute number 4 4
22 cpu corecount.contention average rate percent 4 4
23 mem usage none/average/minimum/maximum absolute percent 4/1/4/4 4/3/4/4
27 mem reservedCapacity average absolute megaBytes 2 3
28 mem granted none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
32 mem active none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
36 mem shared none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
40 mem zero none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
44 mem unreserved none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
48 mem swapused none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
52 mem swapunreserved none/average/minimum/maximum absolute kiloBytes 4/4/4/4 4/4/4/4
56 mem sharedcommon none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
60 mem heap none/average/minimum/maximum absolute kiloBytes 4/4/4/4 4/4/4/4
64 mem heapfree none/average/minimum/maximum absolute kiloBytes 4/4/4/4 4/4/4/4
68 mem state latest absolute number 2 3
69 mem swapped none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
73 mem swaptarget none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
77 mem swapIn none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
81 mem swapOut none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
85 mem swapinRate average rate kiloBytesPerSecond 1 3
86 mem swapoutRate average rate kiloBytesPerSecond 1 3
89 mem vmmemctl none/average/minimum/maximum absolute kiloBytes 4/1/4/4 4/3/4/4
93 mem vmmemctltarget none/average/minimum/maximum absolute kiloBytes 4/2/4/4 4/3/4/4
97 mem consumed none/average/minimum/maximum absolute kiloBytes 4/1/4/4 4/3/4/4
101 mem overhead none/average/minimum/maximum absolute kiloBytes 4/1/4/4 4/1/4/4
105 mem compressed average absolute kiloBytes 2 3
106 mem compressionRate average rate kiloBytesPerSecond 2 3
107 mem decompressionRate average rate kiloBytesPerSecond 2 3
108 mem capacity.provisioned average absolute kiloBytes 4 4
109 mem capacity.entitlement average absolute kiloBytes 4 4
110 mem capacity.usable average absolute kiloBytes 4 4
111 mem capacity.usage average absolute kiloBytes 4 4
112 mem capacity.contention average rate percent 4 4
113 mem capacity.usage.vm average absolute kiloBytes 2 4
114 mem capacity.usage.vmOvrhd average absolute kiloBytes 2 4
115 mem capacity.usage.vmkOvrhd average absolute kiloBytes 2 4
116 mem capacity.usage.userworld average absolute kiloBytes 2 4
117 mem reservedCapacity.vm average absolute kiloBytes 2 4
118 mem reservedCapacity.vmOvhd average absolute kiloBytes 2 4
119 mem reservedCapacity.vmkOvrhd average absolute kiloBytes 2 4
120 mem reservedCapacity.userworld average absolute kiloBytes 2 4
121 mem reservedCapacityPct average absolute percent 4 4
122 mem consumed.vms average absolute kiloBytes 2 4
123 mem consumed.userworlds average absolute kiloBytes 2 4
124 disk usage none/average/minimum/maximum rate kiloBytesPerSecond 4/1/4/4 4/3/4/4
128 disk numberRead summation delta number 3 3
129 disk numberWrite summation delta number 3 3
130 disk read average rate kiloBytesPerSecond 2 3
131 disk write average rate kiloBytesPerSecond 2 3
132 disk totalLatency average absolute millisecond 3 3
133 disk maxTotalLatency latest absolute millisecond 1 3
134 disk commandsAborted summation delta number 2 3
135 disk busResets summation delta number 2 3
136 disk numberReadAveraged average rate number 1 3
137 disk numberWriteAveraged average rate number 1 3
138 disk throughput.usage average rate kiloBytesPerSecond 4 4
139 disk throughput.contention average absolute millisecond 4 4
140 disk scsiReservationConflicts summation delta number 2 2
141 disk scsiReservationCnflctsPct average absolute percent 4 4
142 net usage none/average/minimum/maximum rate kiloBytesPerSecond 4/1/4/4 4/3/4/4
146 net packetsRx summation delta number 2 3
147 net packetsTx summation delta number 2 3
148 net received average rate kiloBytesPerSecond 2 3
149 net transmitted average rate kiloBytesPerSecond 2 3
150 net throughput.provisioned average absolute kiloBytesPerSecond 4 4
151 net throughput.usable average absolute kiloBytesPerSecond 4 4
152 net throughput.usage average rate kiloBytesPerSecond 4 4
153 net throughput.contention summation delta number 4 4
154 net throughput.packetsPerSec average rate number 4 4
155 sys uptime latest absolute second 1 3
156 sys heartbeat summation delta number 1 3
157 power power average rate watt 2 3
158 power powerCap average absolute watt 3 3
159 power energy summation delta joule 3 3
160 power capacity.usagePct average absolute percent 4 4
171 virtualDisk numberReadAveraged average rate number 1 3
172 virtualDisk numberWriteAveraged average rate number 1 3
173 virtualDisk read average rate kiloBytesPerSecond 2 2
174 virtualDisk write average rate kiloBytesPerSecond 2 2
175 virtualDisk totalReadLatency average absolute millisecond 1 3
176 virtualDisk totalWriteLatency average absolute millisecond 1 3
177 virtualDisk throughput.cont average absolute millisecond 4 4
178 datastore numberReadAveraged average rate number 1 3
179 datastore numberWriteAveraged average rate number 1 3
180 datastore read average rate kiloBytesPerSecond 2 2
181 datastore write average rate kiloBytesPerSecond 2 2
182 datastore totalReadLatency average absolute millisecond 1 3
183 datastore totalWriteLatency average absolute millisecond 1 3
184 datastore maxTotalLatency latest absolute millisecond 3 3
185 datastore datastoreIops average absolute number 1 3
186 datastore sizeNormalizedDatastoreLatency average absolute microsecond 1 3
191 datastore siocActiveTimePercentage average absolute percent 1 3
194 virtualDisk throughput.usage average rate kiloBytesPerSecond 4 4
281 disk used latest absolute kiloBytes 1 1
282 disk provisioned latest absolute kiloBytes 1 1
283 disk capacity latest absolute kiloBytes 1 3
284 disk unshared latest absolute kiloBytes 1 1
285 disk deltaused latest absolute kiloBytes 2 3
344 virtualDisk readOIO latest absolute number 2 2
345 virtualDisk writeOIO latest absolute number 2 2
351 datastore datastoreReadIops latest absolute number 1 3
352 datastore datastoreWriteIops latest absolute number 1 3
353 datastore datastoreReadOIO latest absolute number 1 3
354 datastore datastoreWriteOIO latest absolute number 1 3
355 datastore datastoreNormalReadLatency latest absolute number 2 2
356 datastore datastoreNormalWriteLatency latest absolute number 2 2
386 cpu swapwait summation delta millisecond 3 3
387 cpu utilization none/average/maximum/minimum rate percent 4/2/4/4 4/3/4/4
391 cpu coreUtilization none/average/maximum/minimum rate percent 4/2/4/4 4/3/4/4
395 cpu totalCapacity average absolute megaHertz 2 3
396 cpu latency average rate percent 2 3
397 cpu entitlement latest absolute megaHertz 2 3
398 cpu demand average absolute megaHertz 2 3
399 cpu costop summation delta millisecond 2 3
400 cpu maxlimited summation delta millisecond 2 3
401 cpu overlap summation delta millisecond 3 3
402 cpu run summation delta millisecond 2 3
403 cpu demandEntitlementRatio latest absolute percent 4 4
404 cpu readiness average rate percent 4 4
405 mem swapin none/average/maximum/minimum absolute kiloBytes 4/2/4/4 4/3/4/4
409 mem swapout none/average/maximum/minimum absolute kiloBytes 4/2/4/4 4/3/4/4
413 mem sysUsage none/average/maximum/minimum absolute kiloBytes 4/2/4/4 4/3/4/4
417 mem activewrite average absolute kiloBytes 2 3
418 mem overheadMax average absolute kiloBytes 2 3
419 mem totalCapacity average absolute megaBytes 2 3
420 mem zipped latest absolute kiloBytes 2 3
421 mem zipSaved latest absolute kiloBytes 2 3
422 mem latency average absolute percent 2 3
423 mem entitlement average absolute kiloBytes 2 3
424 mem lowfreethreshold average absolute kiloBytes 2 3
446 disk commands summation delta number 2 3
447 disk deviceReadLatency average absolute millisecond 2 3
448 disk kernelReadLatency average absolute millisecond 2 3
449 disk totalReadLatency average absolute millisecond 2 3
450 disk queueReadLatency average absolute millisecond 2 3
455 disk deviceLatency average absolute millisecond 1 3
456 disk kernelLatency average absolute millisecond 2 3
457 disk queueLatency average absolute millisecond 2 3
458 disk maxQueueDepth average absolute number 1 3
459 disk commandsAveraged average rate number 2 3
460 net droppedRx summation delta number 2 3
461 net droppedTx summation delta number 2 3
462 net bytesRx average rate kiloBytesPerSecond 2 3
463 net bytesTx average rate kiloBytesPerSecond 2 3
464 net broadcastRx summation delta number 2 3
465 net broadcastTx summation delta number 2 3
466 net multicastRx summation delta number 2 3
467 net multicastTx summation delta number 2 3
468 net errorsRx summation delta number 2 3
469 net errorsTx summation delta number 2 3
470 net unknownProtos summation delta number 2 3
471 net pnicBytesRx average rate kiloBytesPerSecond 4 4
472 net pnicBytesTx average rate kiloBytesPerSecond 4 4
473 sys heartbeat latest absolute number 4 4
474 sys diskUsage latest absolute percent 3 3
479 sys resourceMemTouched latest absolute kiloBytes 3 3
480 sys resourceMemMapped latest absolute kiloBytes 3 3
481 sys resourceMemShared latest absolute kiloBytes 3 3
482 sys resourceMemSwapped latest absolute kiloBytes 3 3
483 sys resourceMemOverhead latest absolute kiloBytes 3 3
484 sys resourceMemCow latest absolute kiloBytes 3 3
485 sys resourceMemZero latest absolute kiloBytes 3 3
492 sys resourceCpuAllocMin latest absolute megaHertz 3 3
493 sys resourceCpuAllocMax latest absolute megaHertz 3 3
494 sys resourceCpuAllocShares latest absolute number 3 3
495 sys resourceMemAllocMin latest absolute kiloBytes 3 3
496 sys resourceMemAllocMax latest absolute kiloBytes 3 3
497 sys resourceMemAllocShares latest absolute number 3 3
498 sys osUptime latest absolute second 4 4
499 sys resourceMemConsumed latest absolute kiloBytes 4 4
500 sys resourceFdUsage latest absolute number 4 4
"""

# (group, name) -> (label, summary) of nameInfo, as vCenter words them.
_NAMES = {
    ("cpu", "usage"): ("Usage", "CPU usage as a percentage during the interval"),
    ("cpu", "usagemhz"): ("Usage in MHz", "CPU usage in megahertz during the interval"),
    ("cpu", "reservedCapacity"): (
        "Reserved capacity",
        "Total CPU capacity reserved by virtual machines",
    ),
    ("cpu", "system"): (
        "System",
        "Amount of time spent on system processes on each virtual CPU in the virtual machine",
    ),
    ("cpu", "wait"): ("Wait", "Total CPU time spent in wait state"),
    ("cpu", "ready"): (
        "Ready",
        "Time that the virtual machine was ready, but could not get scheduled to run on the "
        "physical CPU during last measurement interval",
    ),
    ("cpu", "idle"): ("Idle", "Total time that the CPU spent in an idle state"),
    ("cpu", "used"): ("Used", "Total CPU usage"),
    ("cpu", "capacity.provisioned"): (
        "CPU Capacity Provisioned",
        "Capacity in MHz of the physical CPU cores",
    ),
    ("cpu", "capacity.entitlement"): (
        "CPU Capacity Entitlement",
        "CPU resources devoted by the ESXi scheduler to the virtual machines and resource pools",
    ),
    ("cpu", "capacity.usage"): (
        "CPU Capacity Usage",
        "CPU usage as a percent during the interval.",
    ),
    ("cpu", "capacity.demand"): (
        "CPU Capacity Demand",
        "The amount of CPU resources a VM would use if there were no CPU contention or CPU limit",
    ),
    ("cpu", "capacity.contention"): (
        "CPU Capacity Contention",
        "Percent of time the VM is unable to run because it is contending for access to the "
        "physical CPU(s)",
    ),
    ("cpu", "corecount.provisioned"): (
        "CPU Core Count Provisioned",
        "The number of virtual processors provisioned to the entity.",
    ),
    ("cpu", "corecount.usage"): (
        "CPU Core Count Usage",
        "The number of virtual processors running on the host.",
    ),
    ("cpu", "corecount.contention"): (
        "CPU Core Count Contention",
        "Time the VM vCPU is ready to run, but is unable to run due to co-scheduling constraints",
    ),
    ("cpu", "swapwait"): ("Swap wait", "CPU time spent waiting for swap-in"),
    ("cpu", "utilization"): (
        "Utilization",
        "CPU utilization as a percentage during the interval (CPU usage and CPU utilization might"
        " be different due to power management technologies or hyper-threading)",
    ),
    ("cpu", "coreUtilization"): (
        "Core Utilization",
        "CPU utilization of the corresponding core (if hyper-threading is enabled) as a "
        "percentage during the interval (A core is utilized if either or both of its logical CPUs"
        " are utilized)",
    ),
    ("cpu", "totalCapacity"): (
        "Total capacity",
        "Total CPU capacity reserved by and available for virtual machines",
    ),
    ("cpu", "latency"): (
        "Latency",
        "Percent of time the virtual machine is unable to run because it is contending for access"
        " to the physical CPU(s)",
    ),
    ("cpu", "entitlement"): ("Entitlement", "CPU resources devoted by the ESX scheduler"),
    ("cpu", "demand"): (
        "Demand",
        "The amount of CPU resources a virtual machine would use if there were no CPU contention "
        "or CPU limit",
    ),
    ("cpu", "costop"): (
        "Co-stop",
        "Time the virtual machine is ready to run, but is unable to run due to co-scheduling "
        "constraints",
    ),
    ("cpu", "maxlimited"): (
        "Max limited",
        "Time the virtual machine is ready to run, but is not run due to maxing out its CPU limit"
        " setting",
    ),
    ("cpu", "overlap"): (
        "Overlap",
        "Time the virtual machine was interrupted to perform system services on behalf of itself "
        "or other virtual machines",
    ),
    ("cpu", "run"): ("Run", "Time the virtual machine is scheduled to run"),
    ("cpu", "demandEntitlementRatio"): (
        "Demand-to-entitlement ratio",
        "CPU resource entitlement to CPU demand ratio (in percents)",
    ),
    ("cpu", "readiness"): (
        "Readiness",
        "Percentage of time that the virtual machine was ready, but could not get scheduled to "
        "run on the physical CPU",
    ),
    ("mem", "usage"): (
        "Host consumed %",
        "Percentage of host physical memory that has been consumed",
    ),
    ("mem", "reservedCapacity"): (
        "Reservation consumed",
        "Memory reservation consumed by powered-on virtual machines",
    ),
    ("mem", "granted"): (
        "Granted",
        "Amount of host physical memory or physical memory that is mapped for a virtual machine "
        "or a host",
    ),
    ("mem", "active"): (
        "Active",
        "Amount of guest physical memory that is being actively read or written by guest. "
        "Activeness is estimated by ESXi",
    ),
    ("mem", "shared"): (
        "Shared",
        "Amount of guest physical memory that is shared within a single virtual machine or across"
        " virtual machines",
    ),
    ("mem", "zero"): ("Zero pages", "Guest physical memory pages whose content is 0x00"),
    ("mem", "unreserved"): ("Reservation available", "Amount by which reservation can be raised"),
    ("mem", "swapused"): ("Swap consumed", "Swap storage space consumed"),
    ("mem", "swapunreserved"): ("swapunreserved", "swapunreserved"),
    ("mem", "sharedcommon"): (
        "Shared common",
        "Amount of host physical memory that backs shared guest physical memory (Shared)",
    ),
    ("mem", "heap"): ("Heap", "Virtual address space of ESXi that is dedicated to its heap"),
    ("mem", "heapfree"): (
        "Heap free",
        "Free address space in the heap of ESXi. This is less than or equal to Heap",
    ),
    ("mem", "state"): (
        "Free state",
        "Current memory availability state of ESXi. Possible values are high, clear, soft, hard, "
        "low. The state value determines the techniques used for memory reclamation from virtual "
        "machines",
    ),
    ("mem", "swapped"): (
        "Swapped",
        "Amount of guest physical memory that is swapped out to the swap space",
    ),
    ("mem", "swaptarget"): (
        "Swap target",
        "Amount of memory that ESXi needs to reclaim by swapping",
    ),
    ("mem", "swapIn"): ("swapIn", "swapIn"),
    ("mem", "swapOut"): ("swapOut", "swapOut"),
    ("mem", "swapinRate"): (
        "Swap in rate",
        "Rate at which guest physical memory is swapped in from the swap space",
    ),
    ("mem", "swapoutRate"): (
        "Swap out rate",
        "Rate at which guest physical memory is swapped out to the swap space",
    ),
    ("mem", "vmmemctl"): (
        "Ballooned memory",
        "Amount of guest physical memory reclaimed from the virtual machine by the balloon driver"
        " in the guest",
    ),
    ("mem", "vmmemctltarget"): (
        "Balloon target",
        "Desired amount of guest physical memory the balloon driver needs to reclaim, as "
        "determined by ESXi",
    ),
    ("mem", "consumed"): (
        "Consumed",
        "Amount of host physical memory consumed for backing up guest physical memory pages",
    ),
    ("mem", "overhead"): (
        "Overhead consumed",
        "Host physical memory consumed by ESXi data structures for running the virtual machines",
    ),
    ("mem", "compressed"): (
        "Compressed",
        "Guest physical memory pages that have undergone memory compression",
    ),
    ("mem", "compressionRate"): (
        "Compression rate",
        "Rate of guest physical memory page compression by ESXi",
    ),
    ("mem", "decompressionRate"): (
        "Decompression rate",
        "Rate of guest physical memory decompression",
    ),
    ("mem", "capacity.provisioned"): (
        "Memory Capacity Provisioned",
        "Total amount of memory available to the host",
    ),
    ("mem", "capacity.entitlement"): (
        "Memory Capacity Entitlement",
        "Amount of host physical memory the VM is entitled to, as determined by the ESXi scheduler",
    ),
    ("mem", "capacity.usable"): (
        "Memory Capacity Usable",
        "Amount of physical memory available for use by virtual machines on this host",
    ),
    ("mem", "capacity.usage"): ("Memory Capacity Usage", "Amount of physical memory actively used"),
    ("mem", "capacity.contention"): (
        "Memory Capacity Contention",
        "Percentage of time VMs are waiting to access swapped, compressed or ballooned memory",
    ),
    ("mem", "capacity.usage.vm"): ("vm", "vm"),
    ("mem", "capacity.usage.vmOvrhd"): ("vmOvrhd", "vmOvrhd"),
    ("mem", "capacity.usage.vmkOvrhd"): ("vmkOvrhd", "vmkOvrhd"),
    ("mem", "capacity.usage.userworld"): ("userworld", "userworld"),
    ("mem", "reservedCapacity.vm"): ("vm", "vm"),
    ("mem", "reservedCapacity.vmOvhd"): ("vmOvhd", "vmOvhd"),
    ("mem", "reservedCapacity.vmkOvrhd"): ("vmkOvrhd", "vmkOvrhd"),
    ("mem", "reservedCapacity.userworld"): ("userworld", "userworld"),
    ("mem", "reservedCapacityPct"): (
        "Memory Reserved Capacity %",
        "Percent of memory that has been reserved either through VMkernel use, by userworlds or "
        "due to VM memory reservations",
    ),
    ("mem", "consumed.vms"): (
        "Memory Consumed by VMs",
        "Amount of physical memory consumed by VMs on this host",
    ),
    ("mem", "consumed.userworlds"): (
        "Memory Consumed by userworlds",
        "Amount of physical memory consumed by userworlds on this host",
    ),
    ("mem", "swapin"): (
        "Swap in",
        "Amount of guest physical memory that is swapped in from the swap space since the virtual"
        " machine has been powered on. This value is less than or equal to the 'Swap out' counter",
    ),
    ("mem", "swapout"): (
        "Swap out",
        "Amount of guest physical memory that is swapped out from the virtual machine to its swap"
        " space since it has been powered on.",
    ),
    ("mem", "sysUsage"): (
        "VMkernel consumed",
        "Amount of host physical memory consumed by VMkernel",
    ),
    ("mem", "activewrite"): (
        "Active write",
        "Amount of guest physical memory that is being actively written by guest. Activeness is "
        "estimated by ESXi",
    ),
    ("mem", "overheadMax"): (
        "Overhead reserved",
        "Host physical memory reserved by ESXi, for its data structures, for running the virtual "
        "machine",
    ),
    ("mem", "totalCapacity"): (
        "Total reservation",
        "Total reservation, available and consumed, for powered-on virtual machines",
    ),
    ("mem", "zipped"): ("Compressed", "Amount of guest physical memory pages compressed by ESXi"),
    ("mem", "zipSaved"): (
        "Compression saved",
        "Host physical memory, reclaimed from a virtual machine, by memory compression. This "
        "value is less than the value of 'Compressed' memory",
    ),
    ("mem", "latency"): (
        "Page-fault latency",
        "Percentage of time the virtual machine spent waiting to swap in or decompress guest "
        "physical memory",
    ),
    ("mem", "entitlement"): (
        "Entitlement",
        "Amount of host physical memory the virtual machine deserves, as determined by ESXi",
    ),
    ("mem", "lowfreethreshold"): (
        "Reclamation threshold",
        "Threshold of free host physical memory below which ESXi will begin actively reclaiming "
        "memory from virtual machines by swapping, compression and ballooning",
    ),
    ("disk", "usage"): (
        "Usage",
        "Aggregated disk I/O rate. For hosts, this metric includes the rates for all virtual "
        "machines running on the host during the collection interval.",
    ),
    ("disk", "numberRead"): (
        "Read requests",
        "Number of disk reads during the collection interval",
    ),
    ("disk", "numberWrite"): (
        "Write requests",
        "Number of disk writes during the collection interval",
    ),
    ("disk", "read"): (
        "Read rate",
        "Average number of kilobytes read from the disk each second during the collection interval",
    ),
    ("disk", "write"): (
        "Write rate",
        "Average number of kilobytes written to disk each second during the collection interval",
    ),
    ("disk", "totalLatency"): (
        "Command latency",
        "Average amount of time taken during the collection interval to process a SCSI command "
        "issued by the guest OS to the virtual machine",
    ),
    ("disk", "maxTotalLatency"): (
        "Highest latency",
        "Highest latency value across all disks used by the host",
    ),
    ("disk", "commandsAborted"): (
        "Commands aborted",
        "Number of SCSI commands aborted during the collection interval",
    ),
    ("disk", "busResets"): (
        "Bus resets",
        "Number of SCSI-bus reset commands issued during the collection interval",
    ),
    ("disk", "numberReadAveraged"): (
        "Average read requests per second",
        "Average number of disk reads per second during the collection interval",
    ),
    ("disk", "numberWriteAveraged"): (
        "Average write requests per second",
        "Average number of disk writes per second during the collection interval",
    ),
    ("disk", "throughput.usage"): (
        "Disk Throughput Usage",
        "Aggregated disk I/O rate, including the rates for all virtual machines running on the "
        "host during the collection interval",
    ),
    ("disk", "throughput.contention"): (
        "Disk Throughput Contention",
        "Average amount of time for an I/O operation to complete successfully",
    ),
    ("disk", "scsiReservationConflicts"): (
        "Disk SCSI Reservation Conflicts",
        "Number of SCSI reservation conflicts for the LUN during the collection interval",
    ),
    ("disk", "scsiReservationCnflctsPct"): (
        "Disk SCSI Reservation Conflicts %",
        "Number of SCSI reservation conflicts for the LUN as a percent of total commands during "
        "the collection interval",
    ),
    ("disk", "used"): (
        "Space actually used",
        "Amount of space actually used by the virtual machine or the datastore",
    ),
    ("disk", "provisioned"): (
        "Space potentially used",
        "Amount of storage set aside for use by a datastore or a virtual machine",
    ),
    ("disk", "capacity"): ("Capacity", "Configured size of the datastore"),
    ("disk", "unshared"): (
        "Space not shared",
        "Amount of space associated exclusively with a virtual machine",
    ),
    ("disk", "deltaused"): (
        "Overhead due to delta disk backings",
        "Storage overhead of a virtual machine or a datastore due to delta disk backings",
    ),
    ("disk", "commands"): (
        "Commands issued",
        "Number of SCSI commands issued during the collection interval",
    ),
    ("disk", "deviceReadLatency"): (
        "Physical device read latency",
        "Average amount of time, in milliseconds, to read from the physical device",
    ),
    ("disk", "kernelReadLatency"): (
        "Kernel read latency",
        "Average amount of time, in milliseconds, spent by VMkernel to process each SCSI read "
        "command",
    ),
    ("disk", "totalReadLatency"): (
        "Read latency",
        "Average amount of time taken during the collection interval to process a SCSI read "
        "command issued from the guest OS to the virtual machine",
    ),
    ("disk", "queueReadLatency"): (
        "Queue read latency",
        "Average amount of time spent in the VMkernel queue, per SCSI read command, during the "
        "collection interval",
    ),
    ("disk", "deviceLatency"): (
        "Physical device command latency",
        "Average amount of time, in milliseconds, to complete a SCSI command from the physical "
        "device",
    ),
    ("disk", "kernelLatency"): (
        "Kernel command latency",
        "Average amount of time, in milliseconds, spent by VMkernel to process each SCSI command",
    ),
    ("disk", "queueLatency"): (
        "Queue command latency",
        "Average amount of time spent in the VMkernel queue, per SCSI command, during the "
        "collection interval",
    ),
    ("disk", "maxQueueDepth"): ("Maximum queue depth", "Maximum queue depth"),
    ("disk", "commandsAveraged"): (
        "Average commands issued per second",
        "Average number of SCSI commands issued per second during the collection interval",
    ),
    ("net", "usage"): (
        "Usage",
        "Network utilization (combined transmit-rates and receive-rates) during the interval",
    ),
    ("net", "packetsRx"): ("Packets received", "Number of packets received during the interval"),
    ("net", "packetsTx"): (
        "Packets transmitted",
        "Number of packets transmitted during the interval",
    ),
    ("net", "received"): (
        "Data receive rate",
        "Average rate at which data was received during the interval",
    ),
    ("net", "transmitted"): (
        "Data transmit rate",
        "Average rate at which data was transmitted during the interval",
    ),
    ("net", "throughput.provisioned"): (
        "Net Throughput Provisioned",
        "The maximum network bandwidth for the host",
    ),
    ("net", "throughput.usable"): (
        "Net Throughput Usable",
        "The current available network bandwidth for the host",
    ),
    ("net", "throughput.usage"): (
        "Net Throughput Usage",
        "The current network bandwidth usage for the host",
    ),
    ("net", "throughput.contention"): (
        "Net Throughput Contention",
        "The aggregate network droppped packets for the host",
    ),
    ("net", "throughput.packetsPerSec"): (
        "pNic Packets Received and Transmitted per Second",
        "Average rate of packets received and transmitted per second",
    ),
    ("net", "droppedRx"): ("Receive packets dropped", "Number of receives dropped"),
    ("net", "droppedTx"): ("Transmit packets dropped", "Number of transmits dropped"),
    ("net", "bytesRx"): ("Data receive rate", "Average amount of data received per second"),
    ("net", "bytesTx"): ("Data transmit rate", "Average amount of data transmitted per second"),
    ("net", "broadcastRx"): (
        "Broadcast receives",
        "Number of broadcast packets received during the sampling interval",
    ),
    ("net", "broadcastTx"): (
        "Broadcast transmits",
        "Number of broadcast packets transmitted during the sampling interval",
    ),
    ("net", "multicastRx"): (
        "Multicast receives",
        "Number of multicast packets received during the sampling interval",
    ),
    ("net", "multicastTx"): (
        "Multicast transmits",
        "Number of multicast packets transmitted during the sampling interval",
    ),
    ("net", "errorsRx"): (
        "Packet receive errors",
        "Number of packets with errors received during the sampling interval",
    ),
    ("net", "errorsTx"): (
        "Packet transmit errors",
        "Number of packets with errors transmitted during the sampling interval",
    ),
    ("net", "unknownProtos"): (
        "Unknown protocol frames",
        "Number of frames with unknown protocol received during the sampling interval",
    ),
    ("net", "pnicBytesRx"): ("pnicBytesRx", "pnicBytesRx"),
    ("net", "pnicBytesTx"): ("pnicBytesTx", "pnicBytesTx"),
    ("sys", "uptime"): ("Uptime", "Total time elapsed, in seconds, since last system startup"),
    ("sys", "heartbeat"): (
        "Heartbeat",
        "Number of heartbeats issued per virtual machine during the interval",
    ),
    ("sys", "diskUsage"): ("Disk usage", "Amount of disk space usage for each mount point"),
    ("sys", "resourceMemTouched"): (
        "Resource memory touched",
        "Memory touched by the system resource group",
    ),
    ("sys", "resourceMemMapped"): (
        "Resource memory mapped",
        "Memory mapped by the system resource group",
    ),
    ("sys", "resourceMemShared"): (
        "Resource memory share saved",
        "Memory saved due to sharing by the system resource group",
    ),
    ("sys", "resourceMemSwapped"): (
        "Resource memory swapped",
        "Memory swapped out by the system resource group",
    ),
    ("sys", "resourceMemOverhead"): (
        "Resource memory overhead",
        "Overhead memory consumed by the system resource group",
    ),
    ("sys", "resourceMemCow"): (
        "Resource memory shared",
        "Memory shared by the system resource group",
    ),
    ("sys", "resourceMemZero"): (
        "Resource memory zero",
        "Zero filled memory used by the system resource group",
    ),
    ("sys", "resourceCpuAllocMin"): (
        "Resource CPU allocation minimum (in MHz)",
        "CPU allocation reservation (in MHz) of the system resource group",
    ),
    ("sys", "resourceCpuAllocMax"): (
        "Resource CPU allocation maximum (in MHz)",
        "CPU allocation limit (in MHz) of the system resource group",
    ),
    ("sys", "resourceCpuAllocShares"): (
        "Resource CPU allocation shares",
        "CPU allocation shares of the system resource group",
    ),
    ("sys", "resourceMemAllocMin"): (
        "Resource memory allocation minimum (in KB)",
        "Memory allocation reservation (in KB) of the system resource group",
    ),
    ("sys", "resourceMemAllocMax"): (
        "Resource memory allocation maximum (in KB)",
        "Memory allocation limit (in KB) of the system resource group",
    ),
    ("sys", "resourceMemAllocShares"): (
        "Resource memory allocation shares",
        "Memory allocation shares of the system resource group",
    ),
    ("sys", "osUptime"): (
        "OS Uptime",
        "Total time elapsed, in seconds, since last operating system boot-up",
    ),
    ("sys", "resourceMemConsumed"): (
        "Resource memory consumed",
        "Memory consumed by the system resource group",
    ),
    ("sys", "resourceFdUsage"): (
        "File descriptors used",
        "Number of file descriptors used by the system resource group",
    ),
    ("power", "power"): ("Usage", "Current power usage"),
    ("power", "powerCap"): ("Cap", "Maximum allowed power usage"),
    ("power", "energy"): ("Energy usage", "Total energy used since last stats reset"),
    ("power", "capacity.usagePct"): (
        "Host Power Capacity Provisioned",
        "Current power usage as a percentage of maximum allowed power.",
    ),
    ("virtualDisk", "numberReadAveraged"): (
        "Average read requests per second",
        "Average number of read commands issued per second to the virtual disk during the "
        "collection interval",
    ),
    ("virtualDisk", "numberWriteAveraged"): (
        "Average write requests per second",
        "Average number of write commands issued per second to the virtual disk during the "
        "collection interval",
    ),
    ("virtualDisk", "read"): ("Read rate", "Rate of reading data from the virtual disk"),
    ("virtualDisk", "write"): ("Write rate", "Rate of writing data to the virtual disk"),
    ("virtualDisk", "totalReadLatency"): (
        "Read latency",
        "The average time a read from the virtual disk takes",
    ),
    ("virtualDisk", "totalWriteLatency"): (
        "Write latency",
        "The average time a write to the virtual disk takes",
    ),
    ("virtualDisk", "throughput.cont"): (
        "Virtual Disk Throughput Contention",
        "Average amount of time for an I/O operation to complete successfully",
    ),
    ("virtualDisk", "throughput.usage"): ("Virtual Disk Throughput Usage", "Virtual disk I/O rate"),
    ("virtualDisk", "readOIO"): (
        "Average number of outstanding read requests",
        "Average number of outstanding read requests to the virtual disk during the collection "
        "interval",
    ),
    ("virtualDisk", "writeOIO"): (
        "Average number of outstanding write requests",
        "Average number of outstanding write requests to the virtual disk during the collection "
        "interval",
    ),
    ("datastore", "numberReadAveraged"): (
        "Average read requests per second",
        "Average number of read commands issued per second to the datastore during the collection"
        " interval",
    ),
    ("datastore", "numberWriteAveraged"): (
        "Average write requests per second",
        "Average number of write commands issued per second to the datastore during the "
        "collection interval",
    ),
    ("datastore", "read"): ("Read rate", "Rate of reading data from the datastore"),
    ("datastore", "write"): ("Write rate", "Rate of writing data to the datastore"),
    ("datastore", "totalReadLatency"): (
        "Read latency",
        "The average time a read from the datastore takes",
    ),
    ("datastore", "totalWriteLatency"): (
        "Write latency",
        "The average time a write to the datastore takes",
    ),
    ("datastore", "maxTotalLatency"): (
        "Highest latency",
        "Highest latency value across all datastores used by the host",
    ),
    ("datastore", "datastoreIops"): (
        "Storage I/O Control aggregated IOPS",
        "Storage I/O Control aggregated IOPS",
    ),
    ("datastore", "sizeNormalizedDatastoreLatency"): (
        "Storage I/O Control normalized latency",
        "Storage I/O Control size-normalized I/O latency",
    ),
    ("datastore", "siocActiveTimePercentage"): (
        "Storage I/O Control active time percentage",
        "Percentage of time Storage I/O Control actively controlled datastore latency",
    ),
    ("datastore", "datastoreReadIops"): (
        "Storage DRS datastore read I/O rate",
        "Storage DRS datastore read I/O rate",
    ),
    ("datastore", "datastoreWriteIops"): (
        "Storage DRS datastore write I/O rate",
        "Storage DRS datastore write I/O rate",
    ),
    ("datastore", "datastoreReadOIO"): (
        "Storage DRS datastore outstanding read requests",
        "Storage DRS datastore outstanding read requests",
    ),
    ("datastore", "datastoreWriteOIO"): (
        "Storage DRS datastore outstanding write requests",
        "Storage DRS datastore outstanding write requests",
    ),
    ("datastore", "datastoreNormalReadLatency"): (
        "Storage DRS datastore normalized read latency",
        "Storage DRS datastore normalized read latency",
    ),
    ("datastore", "datastoreNormalWriteLatency"): (
        "Storage DRS datastore normalized write latency",
        "Storage DRS datastore normalized write latency",
    ),
}

STORED_ROLLUPS = ("average", "minimum", "maximum")  # what rolled-up rows keep (hostsim.rollups)
REALTIME_ROLLUPS = ("none", "latest")  # the sample itself: only the real-time hour has them


@dataclass(frozen=True)
class PerfCounter:
    """One row of PerformanceManager.perfCounter."""

    key: int
    group: str
    name: str
    rollup: str
    stats_type: str
    unit: str
    level: int
    per_device_level: int

    @property
    def full_name(self) -> str:
        """`mem.granted.average`: how clients (vmware_exporter, govc) look a counter up."""
        return f"{self.group}.{self.name}.{self.rollup}"

    @property
    def label(self) -> str:
        return _NAMES[(self.group, self.name)][0]

    @property
    def summary(self) -> str:
        return _NAMES[(self.group, self.name)][1]


def _parse_table(text: str) -> tuple[PerfCounter, ...]:
    rows = []
    for line in text.strip().splitlines():
        first, group, name, rollups, stats_type, unit, levels, per_device = line.split()
        runs = zip(rollups.split("/"), levels.split("/"), per_device.split("/"), strict=True)
        for offset, (rollup, level, per_device_level) in enumerate(runs):
            rows.append(
                PerfCounter(
                    int(first) + offset,
                    group,
                    name,
                    rollup,
                    stats_type,
                    unit,
                    int(level),
                    int(per_device_level),
                )
            )
    return tuple(rows)


COUNTERS: tuple[PerfCounter, ...] = _parse_table(_TABLE)
BY_KEY: dict[int, PerfCounter] = {counter.key: counter for counter in COUNTERS}
BY_NAME: dict[str, PerfCounter] = {counter.full_name: counter for counter in COUNTERS}


@dataclass(frozen=True)
class LabMetric:
    """A vCenter counter the lab has samples for, and the stats key that answers it."""

    counter: PerfCounter
    stat_key: str  # "mem.granted.average", as dashboard.stats reads it
    entities: tuple[str, ...]  # "vm", "host", "pool"
    realtime_only: bool  # `none` and `latest` exist only as real-time samples

    def kept_at(self, kind: str, interval: int) -> bool:
        if kind not in self.entities:
            return False
        return interval == REALTIME_INTERVAL or not self.realtime_only


def _lab_metric(counter: PerfCounter) -> LabMetric | None:
    stored = CATALOGUE.get(f"{counter.group}.{counter.name}")
    if stored is None or CATALOGUE_UNITS.get(stored.unit) != counter.unit:
        return None
    if counter.rollup in STORED_ROLLUPS and counter.rollup in stored.rollups:
        return LabMetric(counter, f"{stored.name}.{counter.rollup}", stored.entities, False)
    if counter.rollup in REALTIME_ROLLUPS:
        # A real-time row's value answers every rollup (dashboard.counters): ask for the average.
        return LabMetric(counter, f"{stored.name}.average", stored.entities, True)
    return None  # summation: the lab keeps no counts per interval


LAB_METRICS: dict[int, LabMetric] = {
    counter.key: metric for counter in COUNTERS if (metric := _lab_metric(counter)) is not None
}


def metrics_kept(kind: str, interval: int) -> list[LabMetric]:
    """The counters with samples for an entity kind at an interval, in key order."""
    return [metric for metric in LAB_METRICS.values() if metric.kept_at(kind, interval)]


@dataclass(frozen=True)
class HistoricalInterval:
    """One of vCenter's statistics intervals (PerformanceManager.historicalInterval)."""

    key: int
    sampling_period: int  # seconds
    name: str
    length: int  # seconds kept
    level: int


# vCenter's four: real-time (20 s) is the hosts' own and not among them. Lengths are the lab's
# retention (hostsim.models.INTERVAL_RETENTION, vCenter's defaults). Level 4: the lab keeps
# every counter at every interval, as a vCenter whose statistics level is set to 4.
HISTORICAL_INTERVALS = tuple(
    HistoricalInterval(key, period, name, INTERVAL_RETENTION[period], 4)
    for key, (period, name) in enumerate(
        ((300, "Past day"), (1800, "Past week"), (7200, "Past month"), (86400, "Past year")),
        start=1,
    )
)
