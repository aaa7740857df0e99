from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from dashboard.api.stats import CounterCatalogueView
from dashboard.api.views import HostViewSet, PoolViewSet, VmViewSet

router = DefaultRouter(trailing_slash=True)
router.register("hosts", HostViewSet, basename="host")
router.register("pools", PoolViewSet, basename="pool")
router.register("vms", VmViewSet, basename="vm")

urlpatterns = [
    path("counters/", CounterCatalogueView.as_view(), name="counters"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script from a URL of its own, not inline (config/csp.py).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    *router.urls,
]

# The API authenticates itself (session or HTTP Basic) and answers 401/403 in JSON, so the
# login-redirecting middleware steps aside for it.
for pattern in urlpatterns:
    pattern.callback = login_not_required(pattern.callback)
