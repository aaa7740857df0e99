from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.login_throttle import ThrottledAdminAuthenticationForm, ThrottledLoginView
from dashboard.health import healthz

admin.site.login_form = ThrottledAdminAuthenticationForm  # the admin's logins are throttled too

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("api/", include("dashboard.api.urls")),
    path("", include("vsphere.urls")),
    path("", include("dashboard.urls")),
]

handler400 = "dashboard.views.errors.bad_request"
handler403 = "dashboard.views.errors.permission_denied"
handler404 = "dashboard.views.errors.page_not_found"
handler500 = "dashboard.views.errors.server_error"
