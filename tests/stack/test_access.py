"""Every page needs a login; /healthz reports the parts; the API answers in JSON."""

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/hosts/1/", "/vms/1/performance/", "/pools/1/"])
def test_anonymous_requests_are_sent_to_the_login_page(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_admin_asks_for_a_login():
    response = Client().get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_the_api_answers_anonymous_requests_in_json():
    response = Client().get("/api/hosts/")
    assert response.status_code == 401  # with a challenge a script's HTTP client answers
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert "error" in response.json()


@pytest.mark.django_db
def test_healthz_is_unhealthy_without_worker_and_beat(clean_redis):
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["worker"]["ok"] is False
    assert body["beat"]["ok"] is False


@pytest.mark.django_db
def test_login_form_needs_csrf():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
