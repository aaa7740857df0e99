"""The websocket protocol of /ws/perf/{kind}/{id}/, through the real ASGI application
(config.asgi: origin check, session auth, routing) and the real Redis channel layer.

Samples are announced the way the runtime announces them: hostsim.signals.samples_committed.
"""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from dashboard_factories import T0, make_vm, vm_values
from live_socket import LiveSocket, break_channel_layer, headers_for, refusal_code

from config.asgi import application
from hostsim.models import Host
from hostsim.runtime import SampleRow
from hostsim.signals import host_advanced, samples_committed

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _redis(clean_redis):
    """Every test here needs the real Redis (skipped without one)."""


def communicator(path: str, headers: list[tuple[bytes, bytes]]) -> LiveSocket:
    return LiveSocket(application, path, headers)


def run(coroutine):
    return asyncio.run(coroutine)


async def refused_with(path: str, headers: list[tuple[bytes, bytes]]) -> int:
    return await refusal_code(communicator(path, headers))


def announce(host: Host, *rows: SampleRow) -> None:
    samples_committed.send(sender=Host, host_id=host.pk, rows=list(rows))


def test_a_viewer_receives_the_samples_of_their_vm_and_not_another_vms(host, vm, viewer):
    viewer_headers = headers_for(viewer)
    other = make_vm(host, "db01")

    async def scenario():
        mine = communicator(f"/ws/perf/vm/{vm.pk}/", viewer_headers)
        theirs = communicator(f"/ws/perf/vm/{other.pk}/", viewer_headers)
        assert (await mine.connect())[0]
        assert (await theirs.connect())[0]
        await sync_to_async(announce)(
            host,
            SampleRow("host", host.pk, T0, {"mem.consumed": 1}),
            SampleRow("vm", vm.pk, T0, vm_values(1)),
            SampleRow("vm", other.pk, T0, vm_values(2)),
        )
        got = await mine.receive_json(timeout=5)
        assert got["type"] == "sample"
        assert got["ts"] == T0.isoformat()
        assert got["values"] == vm_values(1)
        assert got["interval"] == 20
        assert isinstance(got["sent"], float)
        assert await mine.receive_nothing(timeout=0.5), "a sample of another entity leaked"
        got_other = await theirs.receive_json(timeout=5)
        assert got_other["values"] == vm_values(2)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario())


def test_host_and_pool_feeds_carry_their_own_rows(host, vm, viewer):
    viewer_headers = headers_for(viewer)
    pool_id = vm.resource_pool_id

    async def scenario():
        host_socket = communicator(f"/ws/perf/host/{host.pk}/", viewer_headers)
        pool_socket = communicator(f"/ws/perf/pool/{pool_id}/", viewer_headers)
        assert (await host_socket.connect())[0]
        assert (await pool_socket.connect())[0]
        await sync_to_async(announce)(
            host,
            SampleRow("host", host.pk, T0, {"mem.sharedcommon": 7}),
            SampleRow("pool", pool_id, T0, {"mem.granted": 9}),
        )
        assert (await host_socket.receive_json(timeout=5))["values"] == {"mem.sharedcommon": 7}
        assert (await pool_socket.receive_json(timeout=5))["values"] == {"mem.granted": 9}
        assert await host_socket.receive_nothing(timeout=0.3)
        await host_socket.disconnect()
        await pool_socket.disconnect()

    run(scenario())


def test_an_anonymous_visitor_is_refused_with_4401(vm):
    assert run(refused_with(f"/ws/perf/vm/{vm.pk}/", headers_for())) == 4401


def test_a_user_without_the_view_permission_is_refused_with_4403(vm, stranger, viewer):
    viewer_headers = headers_for(viewer)
    path = f"/ws/perf/vm/{vm.pk}/"
    assert run(refused_with(path, headers_for(stranger))) == 4403

    async def viewer_gets_in():
        socket = communicator(path, viewer_headers)
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_nothing(timeout=0.3), "the viewer's socket was closed"
        await socket.disconnect()

    run(viewer_gets_in())


def test_a_refused_user_receives_no_samples(host, vm, stranger):
    stranger_headers = headers_for(stranger)

    async def scenario():
        socket = communicator(f"/ws/perf/vm/{vm.pk}/", stranger_headers)
        await socket.connect()
        closing = await socket.receive_output(timeout=5)
        assert closing == {"type": "websocket.close", "code": 4403}
        await sync_to_async(announce)(host, SampleRow("vm", vm.pk, T0, vm_values(1)))
        assert await socket.receive_nothing(timeout=0.5)

    run(scenario())


@pytest.mark.parametrize(
    "path",
    [
        "/ws/perf/vm/999999/",
        "/ws/perf/vm/abc/",
        "/ws/perf/vm/0/",
        "/ws/perf/vm/99999999999999999999/",
        "/ws/perf/cluster/1/",
    ],
)
def test_an_unknown_object_is_refused_with_4404(path, viewer):
    assert run(refused_with(path, headers_for(viewer))) == 4404


def test_a_host_id_is_not_a_vm_id(host, viewer):
    """The kind in the path decides the table: a host's id does not open a VM feed."""
    assert run(refused_with(f"/ws/perf/vm/{host.pk + 1000}/", headers_for(viewer))) == 4404


def test_client_messages_other_than_ping_get_an_error_and_the_socket_stays_open(vm, viewer):
    viewer_headers = headers_for(viewer)

    async def scenario():
        socket = communicator(f"/ws/perf/vm/{vm.pk}/", viewer_headers)
        assert (await socket.connect())[0]
        for frame in [
            "not json",
            json.dumps({"type": "subscribe", "vm": 2}),
            json.dumps([1, 2]),
            json.dumps({"type": "ping", "extra": 1}),
            "x" * 5000,
            "null",
        ]:
            await socket.send_text(frame)
            answer = await socket.receive_json(timeout=5)
            assert answer["type"] == "error" and answer["error"], frame
        await socket.send_bytes(b"\x00\x01")
        assert (await socket.receive_json(timeout=5))["type"] == "error"
        await socket.send_json({"type": "ping"})
        assert await socket.receive_json(timeout=5) == {"type": "pong"}
        await socket.disconnect()

    run(scenario())


def test_a_fast_forward_tells_every_chart_of_the_host_to_reload(host, vm, viewer):
    viewer_headers = headers_for(viewer)

    async def scenario():
        vm_socket = communicator(f"/ws/perf/vm/{vm.pk}/", viewer_headers)
        host_socket = communicator(f"/ws/perf/host/{host.pk}/", viewer_headers)
        assert (await vm_socket.connect())[0]
        assert (await host_socket.connect())[0]
        end = T0.replace(hour=13)
        await sync_to_async(host_advanced.send)(sender=Host, host_id=host.pk, start=T0, end=end)
        expected = {
            "type": "advanced",
            "from": T0.isoformat(),
            "to": end.isoformat(),
            "final": True,
        }
        assert await vm_socket.receive_json(timeout=5) == expected
        assert await host_socket.receive_json(timeout=5) == expected
        await vm_socket.disconnect()
        await host_socket.disconnect()

    run(scenario())


def test_a_broadcast_failure_never_breaks_the_tick(host, vm, monkeypatch):
    """samples_committed runs inside the tick's on_commit: a dead channel layer must not raise."""

    break_channel_layer(monkeypatch)
    announce(host, SampleRow("vm", vm.pk, T0, vm_values(1)))
    host_advanced.send(sender=Host, host_id=host.pk, start=T0, end=T0)
