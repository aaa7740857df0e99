"""The three layers for the web process: memory maps, traced pages and the MMU panel (issue 11).

The engine lives in the worker that holds the host; the web process has none. So, like esxtop's
screen (stored with each tick), the worker publishes what the Memory map tab shows: after each
tick, for every VM and host someone is watching, the engine's maps go to Redis (one small JSON
value each: `CELLS` cells, `TRACED` traced pages), where the page's requests read them. A viewer's
request marks the object as watched for `WATCH_TTL_S`; nothing is drawn for objects nobody
watches, so a tick of a large host pays for the maps only while a person looks at them.
Engine VM ids are turned into database ids here, as for esxtop.
"""

import json
import logging

from redis.exceptions import RedisError

from hostsim.redis_client import get_redis

log = logging.getLogger(__name__)

CELLS = 1024  # cells per map: one per pixel column or so of the lanes
TRACED = 8  # pages traced through the layers per VM
WATCH_TTL_S = 60  # a viewer's interest outlives a few missed polls
MAP_TTL_S = 600  # a map nobody refreshes expires (the host may be gone)
_MAP_KEY = "vmemlab:layers:{kind}:{pk}"
_WATCH_KEY = "vmemlab:layers:watch:{kind}:{pk}"


def watch(kind: str, pk: int) -> None:
    """Someone looks at this object's memory map: the worker draws it from the next tick on."""
    get_redis().set(_WATCH_KEY.format(kind=kind, pk=pk), 1, ex=WATCH_TTL_S)


def read(kind: str, pk: int) -> dict | None:
    """The latest published layers of a VM or host, or None before the first tick that drew it."""
    raw = get_redis().get(_MAP_KEY.format(kind=kind, pk=pk))
    return json.loads(raw) if raw else None


def publish(actor, ts) -> None:
    """Draw and store the layers of the watched VMs and host of `actor` (after its tick). The
    tick's samples are stored by then: a Redis that does not answer costs the maps, not the tick.
    """
    try:
        _publish(actor, ts)
    except RedisError as exc:
        log.warning("host %s: memory maps not published: %s", actor.host_id, exc)


def _publish(actor, ts) -> None:
    redis = get_redis()
    vm_ids = sorted(actor.vm_map)
    watched = redis.mget(
        [_WATCH_KEY.format(kind="host", pk=actor.host_id)]
        + [_WATCH_KEY.format(kind="vm", pk=vm_id) for vm_id in vm_ids]
    )
    if not any(watched):
        return
    sim = actor.sim
    to_db = {engine_id: vm_id for vm_id, engine_id in actor.vm_map.items()}
    stamp = ts.isoformat()
    pipe = redis.pipeline()
    if watched[0]:
        value = {"ts": stamp} | host_layers(sim, to_db)
        pipe.set(_MAP_KEY.format(kind="host", pk=actor.host_id), json.dumps(value), ex=MAP_TTL_S)
    for vm_id, wanted in zip(vm_ids, watched[1:], strict=True):
        if not wanted:
            continue
        engine_id = actor.vm_map[vm_id]
        key = _MAP_KEY.format(kind="vm", pk=vm_id)
        if sim.is_powered_on(engine_id):
            value = {"ts": stamp, "poweredOn": True} | vm_layers(sim, engine_id, to_db)
        else:
            value = {"ts": stamp, "poweredOn": False}
        pipe.set(key, json.dumps(value), ex=MAP_TTL_S)
    pipe.execute()


def compact_map(mapped: dict, keys: list[str], count_key: str) -> dict:
    """A map's cells as columns (a list per state), which is what the lanes plot."""
    cells = mapped["cells"]
    return {
        "states": keys,
        "totals": mapped["totals"],
        "start": [cell["start"] for cell in cells],
        "size": [cell[count_key] for cell in cells],
        "counts": {key: [cell["counts"].get(key, 0) for cell in cells] for key in keys},
        "owner": [cell["owner"] for cell in cells],
    }


def vm_layers(sim, engine_id: int, to_db: dict[int, int]) -> dict:
    mapped = sim.memory_map(engine_id, CELLS)
    traced = sim.trace_pages(engine_id, TRACED)
    for page in traced["pages"]:
        page["also_mapped_by"] = [
            {"vm": to_db.get(hit["vm"]), "guest_page": hit["guest_page"]}
            for hit in page["also_mapped_by"]
        ]
    counters = sim.vm_counters(engine_id)
    machine = sim.host_memory_map(CELLS)
    this = str(engine_id)
    lanes: dict[str, list[int]] = {"this": [], "others": [], "shared": [], "host": [], "free": []}
    for cell in machine["cells"]:
        counts = cell["counts"]
        vms = sum(value for key, value in counts.items() if key.isdigit())
        lanes["this"].append(counts.get(this, 0))
        lanes["others"].append(vms - counts.get(this, 0))
        lanes["shared"].append(counts.get("shared", 0))
        lanes["host"].append(
            counts.get("vmkernel", 0) + counts.get("overhead", 0) + counts.get("compression", 0)
        )
        lanes["free"].append(counts.get("free", 0))
    return {
        "machine": {
            "frames": machine["frames"],
            "size": [cell["frames"] for cell in machine["cells"]],
            "counts": lanes,
        },
        "pages": mapped["pages"],
        "pageKb": mapped["page_kb"],
        "owners": mapped["owners"],
        "map": compact_map(mapped, mapped["states"], "pages"),
        "trace": traced,
        "processes": sim.processes(engine_id),
        "mmu": sim.mmu(engine_id),
        "counters": {
            name: value for name, value in counters.items() if name.startswith(("mem.", "lab."))
        },
    }


def host_layers(sim, to_db: dict[int, int]) -> dict:
    mapped = sim.host_memory_map(CELLS)

    def db_key(key: str) -> str:
        return str(to_db.get(int(key), key)) if key.isdigit() else key

    for cell in mapped["cells"]:
        cell["counts"] = {db_key(key): value for key, value in cell["counts"].items()}
        cell["owner"] = db_key(cell["owner"])
    totals = {db_key(key): value for key, value in mapped["totals"].items()}
    mapped["totals"] = totals
    vms = {db_key(key): name for key, name in mapped["vms"].items()}
    return {
        "frames": mapped["frames"],
        "pageKb": mapped["page_kb"],
        "sampled": mapped["sampled"],
        "vms": vms,
        "map": compact_map(mapped, list(mapped["states"]) + list(vms), "frames")
        | {"large": [cell["large"] for cell in mapped["cells"]], "largeTotal": mapped["large"]},
    }
