"""Sockets with nothing to say stay open, on the real Redis channel layer.

With the list-based channel layer a consumer waited for its next message in a blocking Redis read
(BRPOP with a 5 s timeout); redis-py 8's 5 s default socket timeout ended that read first and the
socket died with 1006 after a few seconds of silence. The pub/sub layer polls instead. Each test
here stays silent for longer than the configured socket timeout, then checks that the socket is
still open and that a message still arrives.
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


def test_the_live_feeds_of_labs_on_two_databases_of_one_redis_stay_apart():
    """Pub/sub channels belong to the Redis server, not to a database: the prefix names it."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from config.env import redis_database

    base = settings.REDIS_URL.rsplit("/", 1)[0]

    def layer(db: int) -> RedisPubSubChannelLayer:
        return RedisPubSubChannelLayer(hosts=[f"{base}/{db}"], prefix=f"vmemlab.{db}.")

    async def scenario():
        own = redis_database(settings.REDIS_URL)
        mine, other = layer(own), layer((own + 1) % 16)
        listener = await other.new_channel()
        await other.group_add("perf.vm.1", listener)
        await mine.group_send("perf.vm.1", {"type": "perf.sample", "lab": "mine"})
        await other.group_send("perf.vm.1", {"type": "perf.sample", "lab": "other"})
        got = await asyncio.wait_for(other.receive(listener), 5.0)
        assert got == {"type": "perf.sample", "lab": "other"}, "a sample crossed to another lab"
        await mine.flush()
        await other.flush()

    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == (
        f"vmemlab.{redis_database(settings.REDIS_URL)}."
    )
    asyncio.run(scenario())


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
