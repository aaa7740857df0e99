"""What the database holds of the real-time samples, as the runtime tests read it."""

from datetime import timedelta

from hostsim.models import REALTIME_INTERVAL, EntityKind, Sample


def realtime_times(kind: str, entity_id: int) -> list:
    """Timestamps of the entity's real-time samples, oldest first."""
    return list(
        Sample.objects.filter(entity_kind=kind, entity_id=entity_id, interval=REALTIME_INTERVAL)
        .order_by("ts")
        .values_list("ts", flat=True)
    )


def host_times(host) -> list:
    return realtime_times(EntityKind.HOST, host.pk)


def contiguous(times: list) -> bool:
    """No timestamp repeated, none missing: one real-time interval between neighbours."""
    step = timedelta(seconds=REALTIME_INTERVAL)
    return len(times) == len(set(times)) and all(
        b - a == step for a, b in zip(times, times[1:], strict=False)
    )
