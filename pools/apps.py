from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "pools"
    verbose_name = "Resource pools"

    def ready(self) -> None:
        from pools import receivers  # noqa: F401  (connects signal receivers)
