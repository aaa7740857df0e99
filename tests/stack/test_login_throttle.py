"""Password logins are throttled per user name and per client, on the login form, the admin's
login and the API's HTTP Basic, with the counts in the real Redis behind Django's cache."""

import base64
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.labprocs import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PASSWORD = "right-password-1"
LIMIT_PER_USER = 3
LIMIT_PER_CLIENT = 5
LOCKOUT_SECONDS = 3  # also the window the failures are counted in: the tests' failures fit in it


@pytest.fixture(autouse=True)
def small_limits(settings, clean_redis):
    # A fast hasher, so a test's few wrong passwords take milliseconds, well inside the window.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_FAILURE_LIMIT = LIMIT_PER_USER
    settings.LOGIN_CLIENT_FAILURE_LIMIT = LIMIT_PER_CLIENT
    settings.LOGIN_LOCKOUT_SECONDS = LOCKOUT_SECONDS
    for name in ("alice", "bob", "carol"):
        User.objects.create_superuser(name, password=PASSWORD)


def _client(address: str = "10.0.0.1") -> Client:
    return Client(REMOTE_ADDR=address)


def _form_login(username: str, password: str, address: str = "10.0.0.1"):
    client = _client(address)
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response, client


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _api(username: str, password: str, address: str = "10.0.0.1"):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return _client(address).get("/api/hosts/", HTTP_AUTHORIZATION=f"Basic {token}")


def _fail_form(username: str, times: int, address: str = "10.0.0.1"):
    for _ in range(times):
        response, _ = _form_login(username, "wrong-password", address)
        assert response.status_code == 200 and b"Please enter a correct" in response.content


# --- the login form -------------------------------------------------------------------------------


def test_the_login_form_refuses_a_user_name_after_too_many_wrong_passwords():
    response, client = _form_login("alice", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)  # the right password works at first

    _fail_form("alice", LIMIT_PER_USER)
    response, client = _form_login("alice", PASSWORD)

    assert response.status_code == 429
    assert not _logged_in(client), "the right password must be refused while locked"
    assert b"Too many failed logins for this user name" in response.content
    assert 1 <= int(response["Retry-After"]) <= LOCKOUT_SECONDS
    response, client = _form_login("alice", PASSWORD, address="10.0.0.99")
    assert response.status_code == 429, "the user name is locked from every address"


def test_a_locked_user_name_leaves_other_users_of_the_same_client_alone():
    _fail_form("alice", LIMIT_PER_USER)
    response, client = _form_login("bob", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_fewer_wrong_passwords_than_the_limit_are_not_refused():
    _fail_form("alice", LIMIT_PER_USER - 1)
    response, client = _form_login("alice", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_a_successful_login_starts_the_user_names_count_afresh():
    _fail_form("alice", LIMIT_PER_USER - 1)
    assert _form_login("alice", PASSWORD)[0].status_code == 302
    _fail_form("alice", LIMIT_PER_USER - 1)
    response, client = _form_login("alice", PASSWORD)
    assert response.status_code == 302 and _logged_in(client)


def test_a_client_trying_many_user_names_is_refused_for_all_of_them():
    for index in range(LIMIT_PER_CLIENT):
        _fail_form(f"nobody-{index}", 1, address="10.0.0.7")

    response, client = _form_login("carol", PASSWORD, address="10.0.0.7")
    assert response.status_code == 429 and not _logged_in(client)
    assert b"Too many failed logins from your address" in response.content
    response, client = _form_login("carol", PASSWORD, address="10.0.0.8")
    assert response.status_code == 302 and _logged_in(client), "another client is not affected"


def test_ipv6_clients_are_counted_by_their_64_bit_network():
    for index in range(LIMIT_PER_CLIENT):
        _fail_form(f"nobody-{index}", 1, address=f"2001:db8:0:1::{index + 1}")
    assert _form_login("carol", PASSWORD, address="2001:db8:0:1::ffff")[0].status_code == 429
    assert _form_login("carol", PASSWORD, address="2001:db8:0:2::1")[0].status_code == 302


def test_the_lock_ends_after_the_lockout_time():
    _fail_form("alice", LIMIT_PER_USER)
    assert _form_login("alice", PASSWORD)[0].status_code == 429
    locked_at = time.monotonic()

    response = wait_until(
        lambda: (answer := _form_login("alice", PASSWORD)[0]).status_code == 302 and answer,
        LOCKOUT_SECONDS + 10,
        "the lock never ended",
        interval=0.25,
    )
    assert response.status_code == 302
    assert time.monotonic() - locked_at >= LOCKOUT_SECONDS - 1


def test_the_admin_login_is_throttled_too():
    for _ in range(LIMIT_PER_USER):
        _client().post("/admin/login/", {"username": "alice", "password": "wrong-password"})
    client = _client()
    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert not _logged_in(client)
    assert b"Too many failed logins for this user name" in response.content


# --- HTTP Basic on the API ------------------------------------------------------------------------


def test_http_basic_refuses_a_user_name_after_too_many_wrong_passwords_in_json():
    assert _api("alice", PASSWORD).status_code == 200
    for _ in range(LIMIT_PER_USER):
        wrong = _api("alice", "wrong-password")
        assert wrong.status_code == 401 and set(wrong.json()) == {"error"}

    refused = _api("alice", PASSWORD)

    assert refused.status_code == 429
    assert set(refused.json()) == {"error"}
    assert "Too many failed logins for this user name" in refused.json()["error"]
    assert 1 <= int(refused["Retry-After"]) <= LOCKOUT_SECONDS
    assert _api("bob", PASSWORD).status_code == 200, "another user is not affected"


def test_http_basic_and_the_form_share_one_count():
    _fail_form("alice", LIMIT_PER_USER - 1)
    assert _api("alice", "wrong-password").status_code == 401
    assert _api("alice", PASSWORD).status_code == 429
    assert _form_login("alice", PASSWORD)[0].status_code == 429


def test_http_basic_refuses_a_client_trying_many_user_names_and_the_lock_ends():
    for index in range(LIMIT_PER_CLIENT):
        assert _api(f"nobody-{index}", "wrong-password", address="10.0.0.7").status_code == 401
    refused = _api("carol", PASSWORD, address="10.0.0.7")
    assert refused.status_code == 429
    assert "from your address" in refused.json()["error"]
    assert _api("carol", PASSWORD, address="10.0.0.8").status_code == 200

    wait_until(
        lambda: _api("carol", PASSWORD, address="10.0.0.7").status_code == 200,
        LOCKOUT_SECONDS + 10,
        "the client's lock never ended",
        interval=0.25,
    )
