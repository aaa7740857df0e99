"""From stored samples to open Performance tabs, and from inventory changes to every tab's tree:
the receivers of hostsim's and pools' signals.

`samples_committed` arrives after the tick's transaction committed, in the worker that ticked.
Each row goes to its entity's group. A failure here is logged, never raised: the samples are
stored, and a browser that missed a message backfills it from the stats endpoint.

`inventory_changed` arrives after the commit of a pools.services verb, wherever it ran (web,
worker, shell). It is one message to the inventory group, carrying the host id only; a failure
is logged, never raised, and a tab refetches its tree when its socket reconnects anyway.
"""

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver

from dashboard import stats_cache
from dashboard.access import INVENTORY_GROUP, perf_group
from hostsim import sample_versions
from hostsim.models import REALTIME_INTERVAL, VirtualMachine
from hostsim.signals import host_advanced, samples_committed
from pools.models import ResourcePool
from pools.signals import inventory_changed

log = logging.getLogger(__name__)

stats_cache.connect_receivers()


def _send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send():
        for group, message in messages:
            await layer.group_send(group, message)

    async_to_sync(send)()


def _moment(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@receiver(samples_committed, dispatch_uid="dashboard.broadcast.samples")
def broadcast_samples(sender, host_id, rows, **kwargs) -> None:
    sent = time.time()  # the commit just happened: the live benchmark measures from here
    messages = [
        (
            perf_group(row.kind, row.entity_id),
            {
                "type": "perf.sample",
                "ts": _moment(row.ts),
                "interval": REALTIME_INTERVAL,
                "values": row.values,
                "sent": sent,
            },
        )
        for row in rows
    ]
    try:
        _send_all(messages)
    except Exception:
        log.exception("could not broadcast %d samples of host %s", len(messages), host_id)


@receiver(host_advanced, dispatch_uid="dashboard.broadcast.advanced")
def broadcast_advanced(sender, host_id, start, end, final=True, **kwargs) -> None:
    """While and after a fast-forward every chart of the host, its pools and its VMs reloads its
    range; `final` says the fast-forward ended."""
    message = {"type": "perf.advanced", "from": _moment(start), "to": _moment(end), "final": final}
    targets = [("host", host_id)]
    targets += [
        ("pool", pk)
        for pk in ResourcePool.objects.filter(host_id=host_id).values_list("pk", flat=True)
    ]
    targets += [
        ("vm", pk)
        for pk in VirtualMachine.objects.filter(host_id=host_id).values_list("pk", flat=True)
    ]
    try:
        _send_all([(perf_group(kind, pk), message) for kind, pk in targets])
    except Exception:
        log.exception("could not announce the fast-forward of host %s", host_id)


@receiver(inventory_changed, dispatch_uid="dashboard.broadcast.inventory")
def broadcast_inventory(sender, host_id, **kwargs) -> None:
    sample_versions.bump(host_id)  # a deleted or moved object's cached stats answer goes at once
    try:
        _send_all([(INVENTORY_GROUP, {"type": "inventory.changed", "host": int(host_id)})])
    except Exception:
        log.exception("could not announce the inventory change of host %s", host_id)
