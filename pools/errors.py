"""Domain errors raised by pools.services and mapped to HTTP in one place (dashboard.api.errors).

InvalidOperation and ManagedObjectNotFound are hostsim's (hostsim.errors), so that the guest
operations of hostsim raise the same types; they are re-exported here with the pools' own.
"""

from hostsim.errors import InvalidOperation, ManagedObjectNotFound

__all__ = [
    "AdmissionDenied",
    "DuplicateName",
    "InvalidOperation",
    "InvalidPowerState",
    "ManagedObjectNotFound",
]


class DuplicateName(InvalidOperation):
    """The name is taken where it must be unique (vSphere's DuplicateName): a host, a VM on its
    host, a pool among its siblings. `name` is the name asked for."""

    def __init__(self, message: str, fields: dict[str, str], *, name: str):
        super().__init__(message, fields)
        self.name = name


class InvalidPowerState(InvalidOperation):
    """The VM's power state forbids the operation (vSphere's InvalidPowerState)."""

    def __init__(self, message: str, *, existing: str, requested: str):
        super().__init__(message)
        self.existing = existing
        self.requested = requested


class AdmissionDenied(Exception):
    """Admission control refused the operation, as vSphere's InsufficientResourcesFault."""

    fault = "InsufficientResourcesFault"

    def __init__(self, message: str, *, pool: str, resource: str, requested: int, unreserved: int):
        super().__init__(message)
        self.pool = pool
        self.resource = resource
        self.requested = requested
        self.unreserved = unreserved

    def as_dict(self) -> dict:
        return {
            "error": str(self),
            "fault": self.fault,
            "pool": self.pool,
            "resource": self.resource,
            "requested": self.requested,
            "unreserved": self.unreserved,
        }
