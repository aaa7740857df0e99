"""Sockets with nothing to say stay open, on the real Redis channel layer.

A consumer waits for its next message in a blocking Redis read (channels-redis: BZPOPMIN with a
5 s timeout). If the Redis client's socket timeout is not longer than that read, the read fails
with a TimeoutError and the socket dies with 1006 after a few seconds of silence (redis-py 8 made
5 s the default). Each test here stays silent for longer than the configured socket timeout, then
checks that the socket is still open and that a message still arrives.
"""

import asyncio
import logging

import pytest
from asgiref.sync import sync_to_async
from dashboard_factories import T0, make_vm, vm_values
from django.conf import settings
from live_socket import LiveSocket, headers_for

from config.asgi import application
from hostsim.models import Host
from hostsim.runtime import SampleRow
from hostsim.signals import samples_committed
from pools import services

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SILENCE_MARGIN = 2.0  # seconds beyond the socket timeout: the read has certainly timed out by then


@pytest.fixture(autouse=True)
def _redis(clean_redis):
    """Every test here needs the real Redis (skipped without one)."""


def silence() -> float:
    return settings.CHANNEL_REDIS_SOCKET_TIMEOUT + SILENCE_MARGIN


def test_the_channel_layer_reads_outlast_its_blocking_poll():
    """The configuration that keeps idle sockets alive, stated as what it must satisfy."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    assert layer.brpop_timeout < settings.CHANNEL_REDIS_SOCKET_TIMEOUT


def test_an_idle_inventory_socket_stays_open_and_still_hears_a_change(host, viewer, caplog):
    stopped = make_vm(host, "idle-01", on=False)
    caplog.set_level(logging.ERROR)
    headers = headers_for(viewer)

    async def scenario():
        socket = LiveSocket(application, "/ws/inventory/", headers)
        assert (await socket.connect())[0]
        assert await socket.receive_nothing(timeout=silence()), "an idle socket was sent something"
        await sync_to_async(services.power_on)(stopped)
        assert await socket.receive_json(timeout=5) == {"type": "inventory", "host": host.pk}
        await socket.disconnect()

    asyncio.run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_the_performance_tab_of_a_powered_off_vm_stays_open_until_it_powers_on(
    host, viewer, caplog
):
    stopped = make_vm(host, "idle-02", on=False)
    caplog.set_level(logging.ERROR)
    headers = headers_for(viewer)

    async def scenario():
        socket = LiveSocket(application, f"/ws/perf/vm/{stopped.pk}/", headers)
        assert (await socket.connect())[0]
        assert await socket.receive_nothing(timeout=silence()), "an idle socket was sent something"
        await sync_to_async(samples_committed.send)(
            sender=Host, host_id=host.pk, rows=[SampleRow("vm", stopped.pk, T0, vm_values(7))]
        )
        got = await socket.receive_json(timeout=5)
        assert got["type"] == "sample" and got["values"] == vm_values(7)
        await socket.disconnect()

    asyncio.run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
