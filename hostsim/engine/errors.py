"""The engine's exceptions. Invalid requests are `ValueError`s, so callers can map them to a 400."""


class EngineError(ValueError):
    """A request the engine refuses; nothing was changed."""


class InsufficientMemoryError(EngineError):
    """The host has too little free machine memory for what was asked (e.g. a VM's overhead)."""

    def __init__(self, message: str, *, requested_kb: int, free_kb: int):
        super().__init__(message)
        self.requested_kb = requested_kb
        self.free_kb = free_kb


class EngineInvariantError(AssertionError):
    """`HostSim.audit()` found the engine's bookkeeping inconsistent: a bug, never user input."""
