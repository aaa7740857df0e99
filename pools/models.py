"""Resource pools: a tree per host whose root is the host's own fixed pool."""

from django.db import models

from hostsim.models import (
    NAME_MAX_LENGTH,
    Host,
    ResourceAllocation,
    name_validator,
    no_control_characters,
)


class ResourcePool(ResourceAllocation):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="pools")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, related_name="children", null=True, blank=True
    )
    name = models.CharField(
        max_length=NAME_MAX_LENGTH, validators=[name_validator, no_control_characters]
    )
    cpu_expandable = models.BooleanField("CPU expandable reservation", default=True)
    memory_expandable = models.BooleanField("Memory expandable reservation", default=True)
    is_root = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["host__name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["host"], condition=models.Q(is_root=True), name="one_root_pool_per_host"
            ),
            models.UniqueConstraint(
                fields=["parent", "name"], name="unique_pool_name_among_siblings"
            ),
        ]

    def __str__(self) -> str:
        return self.name
