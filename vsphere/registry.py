"""The method and property tables of the /sdk endpoint.

Each managed object type registers its methods and its property reader here; the dispatcher
(vsphere.endpoint) looks them up. Handlers receive already typed pyVmomi arguments, return
pyVmomi-typed results (or None) and raise pyVmomi faults, which the dispatcher serializes.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Call:
    user: "django.contrib.auth.models.AbstractBaseUser"  # noqa: F821 -- the logged-in Django user
    this: "pyVmomi ManagedObject"  # noqa: F722 -- the target, e.g. vim.PerformanceManager('PerfMgr')
    args: dict[str, object]  # parameters, already typed by pyVmomi's deserializer


METHODS: dict[tuple[str, str], Callable[[Call], object]] = {}  # (mo type, method name) -> handler
PROPERTIES: dict[str, Callable[[object, str], object]] = {}  # mo type -> fn(mo, path) -> value


class InvalidProperty(Exception):
    """A property path the managed object type does not have."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


def method(mo_type: str, name: str):
    def register(handler):
        METHODS[(mo_type, name)] = handler
        return handler

    return register


def properties(mo_type: str):
    def register(reader):
        PROPERTIES[mo_type] = reader
        return reader

    return register
