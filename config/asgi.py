"""ASGI entry point: Django for HTTP, Channels for the Performance tab's websockets."""

import os

from django.core.asgi import get_asgi_application

from config.env import one_sentence_on_bad_configuration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Settings are read here, while uvicorn imports this module: a bad value ends the server with one
# sentence instead of uvicorn's traceback of the import.
with one_sentence_on_bad_configuration():
    django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.body_limit import BodyLimit  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402
from dashboard.stats_cache import StatsMicroCache  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StatsMicroCache(BodyLimit(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
