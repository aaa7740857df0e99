"""The live benchmark (`manage.py bench live`): websockets, the Performance page, a year of stats.

Run against a running lab (`./lab up`), from a process with the lab's settings (same database):
1. log in over HTTP like a browser, and list the lab's hosts, pools and powered-on VMs (API);
2. open `clients` websockets spread over those objects for `seconds`; each pushed sample carries
   `sent`, the epoch time broadcast.py handed it to the channel layer right after the commit,
   so latency is receipt minus `sent` (one machine, one clock);
3. count drops per client by timestamps: every real-time sample the database holds for the
   client's object between the first timestamp the client received and the newest timestamp any
   client of that object received should have arrived;
4. time the Performance page (server time, in-process through Django's test client) and the
   Last-year stats request over 365 daily rollups, for 100 VMs of a throw-away host created here
   and deleted afterwards.
"""

import asyncio
import http.cookiejar
import json
import re
import statistics
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

TARGETS = {"latency_p95_ms": 250.0, "performance_page_ms": 100.0, "year_stats_ms": 50.0}
PAGE_REQUESTS = 21  # GETs of the Performance page; the median is reported
YEAR_VMS = 100  # VMs of the throw-away host, each with a year of daily rollups
YEAR_DAYS = 365
CONNECT_CONCURRENCY = 50  # websocket handshakes in flight at once


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --------------------------------------------------------------------------- HTTP


class _Session:
    """A browser-like HTTP session: cookies, and the CSRF token of the login form."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def get(self, path: str, accept: str = "application/json") -> tuple[int, bytes]:
        request = urllib.request.Request(self.base_url + path, headers={"Accept": accept})
        with self.opener.open(request, timeout=30) as response:
            return response.status, response.read()

    def login(self, username: str, password: str) -> str:
        _, form = self.get("/accounts/login/", accept="text/html")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        if match is None:
            raise RuntimeError("the login page has no CSRF token")
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1).decode(), "next": "/"}
        ).encode()
        request = urllib.request.Request(
            self.base_url + "/accounts/login/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base_url + "/accounts/login/"},
        )
        with self.opener.open(request, timeout=30):
            pass
        session = self.cookie("sessionid")
        if not session:
            raise RuntimeError(f"logging in as {username!r} failed: check the user name and password")
        return session

    def get_json(self, path: str):
        status, body = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return json.loads(body)


def _entities(session: _Session) -> list[tuple[str, int]]:
    """Objects with live samples: every host and pool, and the powered-on VMs."""
    hosts = [("host", h["id"]) for h in session.get_json("/api/hosts/")]
    pools = [("pool", p["id"]) for p in session.get_json("/api/pools/")]
    vms = [("vm", v["id"]) for v in session.get_json("/api/vms/") if v.get("powerState") == "poweredOn"]
    entities = vms + hosts + pools
    if not entities:
        raise RuntimeError("the lab has no hosts: load the demo first (./lab up does)")
    return entities


# --------------------------------------------------------------------------- websockets


async def _client(url: str, headers: dict, origin: str, deadline: float, record: dict, gate: asyncio.Semaphore):
    from websockets.asyncio.client import connect

    try:
        async with gate:
            socket = await connect(url, additional_headers=headers, origin=origin, open_timeout=30, max_queue=None)
    except Exception as exc:  # counted, not raised: the figure says how many failed
        record["error"] = f"{type(exc).__name__}: {exc}"
        return
    record["connected"] = time.time()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                frame = await asyncio.wait_for(socket.recv(), timeout=remaining)
            except TimeoutError:
                break
            received = time.time()
            message = json.loads(frame)
            if message.get("type") == "sample":
                record["samples"].append((message["ts"], received - float(message["sent"])))
    except Exception as exc:  # a dropped connection is a finding
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await socket.close()


async def _run_clients(base_url: str, session_id: str, entities, clients: int, seconds: int) -> list[dict]:
    parsed = urllib.parse.urlsplit(base_url)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    origin = f"{parsed.scheme}://{parsed.netloc}"
    headers = {"Cookie": f"sessionid={session_id}"}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    records = []
    tasks = []
    start = time.monotonic()
    deadline = start + seconds
    for index in range(clients):
        kind, entity_id = entities[index % len(entities)]
        record = {"kind": kind, "id": entity_id, "samples": [], "error": None, "connected": None}
        records.append(record)
        url = f"{scheme}://{parsed.netloc}/ws/perf/{kind}/{entity_id}/"
        tasks.append(asyncio.create_task(_client(url, headers, origin, deadline, record, gate)))
    await asyncio.gather(*tasks)
    return records


# --------------------------------------------------------------------------- drops


def _stored_times(kind: str, entity_id: int, first: str, last: str) -> set[str]:
    from hostsim.models import REALTIME_INTERVAL, Sample

    start, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    rows = Sample.objects.filter(
        entity_kind=kind, entity_id=entity_id, interval=REALTIME_INTERVAL, ts__gte=start, ts__lte=end
    ).values_list("ts", flat=True)
    return {ts.isoformat() for ts in rows}


def _count_drops(records: list[dict]) -> dict:
    newest: dict[tuple[str, int], str] = {}
    for record in records:
        for ts, _ in record["samples"]:
            key = (record["kind"], record["id"])
            if ts > newest.get(key, ""):
                newest[key] = ts
    expected_total = dropped = clients_with_drops = 0
    stored_cache: dict[tuple[str, int, str], set[str]] = {}
    for record in records:
        key = (record["kind"], record["id"])
        if not record["samples"]:
            continue
        first = min(ts for ts, _ in record["samples"])
        cache_key = (*key, first)
        if cache_key not in stored_cache:
            stored_cache[cache_key] = _stored_times(*key, first, newest[key])
        expected = stored_cache[cache_key]
        missing = expected - {ts for ts, _ in record["samples"]}
        expected_total += len(expected)
        dropped += len(missing)
        clients_with_drops += bool(missing)
    return {"expected": expected_total, "dropped": dropped, "clients_with_drops": clients_with_drops}


# --------------------------------------------------------------------------- server times


def _client_for(base_url: str, username: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    host = urllib.parse.urlsplit(base_url).hostname or "localhost"
    client = Client(SERVER_NAME=host)
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _time_get(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return elapsed


def _performance_page(client, session: _Session, vm_id: int) -> dict:
    path = f"/vms/{vm_id}/performance/"
    server = [_time_get(client, path) for _ in range(PAGE_REQUESTS)]
    over_http = []
    for _ in range(PAGE_REQUESTS):
        started = time.perf_counter()
        session.get(path, accept="text/html")
        over_http.append(time.perf_counter() - started)
    return {
        "path": path,
        "server_median_ms": _ms(statistics.median(server)),
        "http_median_ms": _ms(statistics.median(over_http)),
    }


def _year_of_stats(client) -> dict:
    """Last-year stats of 100 VMs, each with 365 daily rollups, on a throw-away host."""
    from hostsim.models import Sample, VirtualMachine
    from pools import services

    # Small and powered off: the lab's worker ticks every host, this one included, until it goes.
    host = services.create_host(name=f"bench-{uuid.uuid4().hex[:10]}", memory_mb=8192, cpu_mhz=10_000)
    root = services.ensure_root_pool(host)
    try:
        # Bulk rows rather than 100 service calls: powered-off VMs with default allocations need no
        # admission, and this measures reading stats, not creating VMs.
        vms = VirtualMachine.objects.bulk_create(
            VirtualMachine(host=host, resource_pool=root, name=f"bench-vm-{index:03d}", memory_mb=64)
            for index in range(YEAR_VMS)
        )
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days = [end - timedelta(days=offset) for offset in range(YEAR_DAYS)]
        names = ("mem.granted", "mem.consumed", "mem.shared", "mem.active", "mem.overhead", "mem.vmmemctl")
        Sample.objects.bulk_create(
            (
                Sample(
                    host=host, entity_kind="vm", entity_id=vm.pk, interval=86400, ts=day,
                    values={f"{name}.{stat}": 1000.0 + index for name in names for stat in ("average", "minimum", "maximum")},
                )
                for vm in vms
                for index, day in enumerate(days)
            ),
            batch_size=5000,
        )
        timings = []
        for vm in vms:
            path = f"/api/vms/{vm.pk}/stats/?interval=86400"
            started = time.perf_counter()
            response = client.get(path)
            timings.append(time.perf_counter() - started)
            body = response.json()
            if response.status_code != 200 or len(body["timestamps"]) != YEAR_DAYS:
                raise RuntimeError(f"GET {path} answered {response.status_code} with the wrong rows")
        return {
            "vms": YEAR_VMS,
            "rows_per_request": YEAR_DAYS,
            "median_ms": _ms(statistics.median(timings)),
            "p95_ms": _ms(_percentile(timings, 0.95)),
        }
    finally:
        services.delete_host(host)  # its pools, VMs and samples go with it


# --------------------------------------------------------------------------- the benchmark


def run_live_benchmark(base_url: str, username: str, password: str, clients: int = 200, seconds: int = 30) -> dict:
    session = _Session(base_url)
    session_id = session.login(username, password)
    entities = _entities(session)

    started = time.monotonic()
    records = asyncio.run(_run_clients(base_url, session_id, entities, clients, seconds))
    wall = time.monotonic() - started

    latencies = [latency for record in records for _, latency in record["samples"]]
    drops = _count_drops(records)
    failures = [record["error"] for record in records if record["error"]]

    client = _client_for(base_url, username)
    vm_ids = [entity_id for kind, entity_id in entities if kind == "vm"]
    page = _performance_page(client, session, vm_ids[0]) if vm_ids else None
    year = _year_of_stats(client)

    p95 = _percentile(latencies, 0.95)
    result = {
        "clients": clients,
        "seconds": seconds,
        "objects": {kind: sum(1 for k, _ in entities if k == kind) for kind in ("vm", "host", "pool")},
        "connected": sum(1 for record in records if record["connected"]),
        "connection_errors": len(failures),
        "first_errors": failures[:3],
        "messages": len(latencies),
        "messages_per_second": round(len(latencies) / wall, 1) if wall else None,
        "latency_ms": {
            "p50": _ms(_percentile(latencies, 0.50)),
            "p95": _ms(p95),
            "p99": _ms(_percentile(latencies, 0.99)),
            "max": _ms(max(latencies) if latencies else None),
        },
        **drops,
        "performance_page": page,
        "year_of_stats": year,
        "targets": TARGETS,
    }
    result["passed"] = {
        "latency_p95": p95 is not None and p95 * 1000 <= TARGETS["latency_p95_ms"],
        "nothing_dropped": drops["dropped"] == 0 and not failures and bool(latencies),
        "performance_page": page is not None and page["server_median_ms"] <= TARGETS["performance_page_ms"],
        "year_of_stats": year["median_ms"] <= TARGETS["year_stats_ms"],
    }
    return result

