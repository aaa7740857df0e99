"""Fixtures of the dashboard tests; the helpers behind them live in dashboard_factories."""

import pytest
from dashboard_factories import CHANGE_PERMS, VIEW_PERMS, make_host, make_user, make_vm


@pytest.fixture
def host(db):
    return make_host()


@pytest.fixture
def vm(host):
    return make_vm(host, "web01", memory_mb=2048)


@pytest.fixture
def viewer(db):
    return make_user("viewer", *VIEW_PERMS)


@pytest.fixture
def operator(db):
    return make_user("operator", *VIEW_PERMS, *CHANGE_PERMS)


@pytest.fixture
def stranger(db):
    """Logged in, but without any permission."""
    return make_user("stranger")


@pytest.fixture
def api(admin_user):
    """A JSON API client logged in as the admin."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def lab(db):
    """One host built through pools.services (the JSON API tests' scenario builder)."""
    from tests.pools.conftest import Lab

    return Lab()


@pytest.fixture
def fast_passwords(settings):
    """Users are made and HTTP Basic checks passwords per request: a slow hash only costs time
    there. Only for tests in this process: a lab started for a test hashes as configured."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
