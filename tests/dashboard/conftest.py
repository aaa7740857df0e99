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
