import importlib

from django.apps import AppConfig

# The modules whose decorators fill vsphere.registry (a missing one is an import error at start).
HANDLER_MODULES = ("service", "sessions", "inventory", "collector", "writes", "perf")


class VsphereConfig(AppConfig):
    name = "vsphere"
    verbose_name = "vSphere Web Services API"

    def ready(self) -> None:
        for module in HANDLER_MODULES:
            importlib.import_module(f"{self.name}.{module}")
