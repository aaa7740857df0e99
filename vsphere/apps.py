import importlib
import importlib.util

from django.apps import AppConfig

# The modules whose decorators fill vsphere.registry; perf is sdk-perf's, present once it lands.
HANDLER_MODULES = ("service", "sessions", "inventory", "collector", "writes", "perf")


class VsphereConfig(AppConfig):
    name = "vsphere"
    verbose_name = "vSphere Web Services API"

    def ready(self) -> None:
        for module in HANDLER_MODULES:
            name = f"{self.name}.{module}"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
