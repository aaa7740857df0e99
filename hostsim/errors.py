"""The refusals every layer above the engine raises, mapped to HTTP and vSphere faults in one place
each (dashboard.api.errors, vsphere.writes). They live here, in the lowest app, so that hostsim's
own services (guest operations) raise the same types as pools.services, which re-exports them with
its own (pools.errors)."""


class InvalidOperation(Exception):
    """The request is not valid (bad values, a move into a descendant, the root pool...).

    `fields` maps model field names to messages when the problem belongs to particular fields.
    """

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.fields = fields or {}


class ManagedObjectNotFound(InvalidOperation):
    """The object is gone: deleted (by a concurrent request, say) before the operation locked it.

    vSphere's vmodl.fault.ManagedObjectNotFound; the API answers 404. A subclass of
    InvalidOperation, so callers that show refusals (the admin) show this one too.
    """
