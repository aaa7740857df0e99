"""Password logins are throttled per user name and per client, in Django's cache (Redis).

Every way a password is checked goes through here: the login form (`ThrottledLoginView`), the
admin's login form and the API's HTTP Basic (`ThrottledBasicAuthentication`). Each failure counts
against the user name and against the client's address; past a limit within the window, that user
name (from anywhere) or that address (for any user name) is refused for LOGIN_LOCKOUT_SECONDS.
The refusal comes before the password is checked, so while locked even the right password is
refused and a refusal says nothing about the password.

Counted in Django's cache rather than with django-axes: the cache is the Redis every web process
already shares, so the counts need no table and no write per attempt to PostgreSQL, and the two
refusals this lab needs (the API's JSON error shape with 429 and Retry-After, a message on the
login form) are a few lines here, where axes needs its lockout signal re-raised for DRF and a
custom lockout response for the form.
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

IPV6_CLIENT_PREFIX = 64  # an IPv6 client gets a whole /64 (RFC 6177), so count by network


@dataclass(frozen=True)
class Refusal:
    reason: str  # "for this user name" or "from your address"
    retry_after: int  # seconds until the lock ends

    def sentence(self) -> str:
        return f"Too many failed logins {self.reason}. Try again in {_duration(self.retry_after)}."


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def client_address(request) -> str:
    """The client as the web server saw it (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    raw = (request.META.get("REMOTE_ADDR") or "").strip() if request is not None else ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


def _subjects(username: str, client: str) -> list[tuple[str, str, int]]:
    """(cache key part, refusal reason, failure limit) for the user name and for the client."""
    user = hashlib.sha256(username.encode()).hexdigest()[:32]  # any characters, a fixed-size key
    return [
        (f"user:{user}", "for this user name", settings.LOGIN_FAILURE_LIMIT),
        (f"client:{client}", "from your address", settings.LOGIN_CLIENT_FAILURE_LIMIT),
    ]


def current_refusal(username: str, client: str) -> Refusal | None:
    """Why a login as `username` from `client` is refused now, or None if it may be tried."""
    now = time.time()
    for subject, reason, _ in _subjects(username, client):
        until = cache.get(f"login-lock:{subject}")
        if until is not None and until > now:
            return Refusal(reason, max(1, math.ceil(until - now)))
    return None


def record_failure(username: str, client: str) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    for subject, _, limit in _subjects(username, client):
        key = f"login-failures:{subject}"
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            failures = cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(f"login-lock:{subject}", time.time() + window, timeout=window)
            cache.delete(key)  # after the lock, a fresh window


def record_success(username: str) -> None:
    """A user who got in starts afresh; the client's count stays (it may be spraying names)."""
    subject = _subjects(username, "")[0][0]
    cache.delete(f"login-failures:{subject}")


class _ThrottledFormMixin:
    """For django.contrib.auth's AuthenticationForm and its admin subclass."""

    refusal: Refusal | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        client = client_address(self.request)
        self.refusal = current_refusal(username, client)
        if self.refusal is not None:
            raise ValidationError(self.refusal.sentence(), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None:  # wrong password (a staff check refusing is not one)
                record_failure(username, client)
            raise
        record_success(username)
        return cleaned


class ThrottledAuthenticationForm(_ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_ThrottledFormMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(LoginView):
    """The login page; a throttled attempt is answered 429 with the form and its message."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
            response["Retry-After"] = str(form.refusal.retry_after)
        return response


class ThrottledBasicAuthentication(BasicAuthentication):
    """HTTP Basic for the API; a throttled attempt is 429 `{"error": ...}` with Retry-After."""

    def authenticate_credentials(self, userid, password, request=None):
        client = client_address(request)
        refused = current_refusal(userid, client)
        if refused is not None:
            raise exceptions.Throttled(
                wait=refused.retry_after, detail=f"Too many failed logins {refused.reason}."
            )
        try:
            answer = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            record_failure(userid, client)
            raise
        record_success(userid)
        return answer


class ThrottledBasicScheme(BasicScheme):
    """The OpenAPI schema documents it as the HTTP Basic it is."""

    target_class = "config.login_throttle.ThrottledBasicAuthentication"
