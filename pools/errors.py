"""Domain errors raised by pools.services and mapped to HTTP in one place (dashboard.api.errors)."""


class InvalidOperation(Exception):
    """The request is not valid (bad values, a move into a descendant, the root pool...).

    `fields` maps field names to messages when the problem belongs to particular fields.
    """

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.fields = fields or {}


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


class ManagedObjectNotFound(InvalidOperation):
    """The object is gone: deleted (by a concurrent request, say) before the operation locked it.

    vSphere's vmodl.fault.ManagedObjectNotFound; the API answers 404. A subclass of
    InvalidOperation, so callers that show refusals (the admin) show this one too.
    """
