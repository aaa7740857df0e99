"""Websocket routes (mounted by config.asgi behind AuthMiddlewareStack).

The pattern is deliberately loose: a bad kind or id reaches the consumer, which closes with 4404,
instead of failing the handshake in the router.
"""

from django.urls import re_path

from dashboard.consumers import InventoryConsumer, PerfConsumer

websocket_urlpatterns = [
    re_path(r"^ws/inventory/$", InventoryConsumer.as_asgi()),
    re_path(r"^ws/perf/(?P<kind>[^/]{1,16})/(?P<pk>[^/]{1,24})/$", PerfConsumer.as_asgi()),
]
