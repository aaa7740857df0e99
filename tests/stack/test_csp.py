"""Every response carries the Content-Security-Policy, and the pages need nothing it forbids."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("csp-admin", password="csp-password-1"))
    return client


@pytest.mark.parametrize(
    "url", ["/accounts/login/", "/healthz", "/static/js/perf.js", "/no-such-page/"]
)
def test_every_response_has_the_policy_even_anonymous_ones(url, redis_url):
    response = Client().get(url)
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("url", ["/", "/api/hosts/", "/api/docs/"])
def test_pages_of_a_logged_in_user_have_the_policy(url, admin_client):
    policy = _policy(admin_client.get(url))
    assert policy["script-src"] == ["'self'"]
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(policy["script-src"])
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # Plotly styles its SVG inline
    assert {"data:", "blob:"} <= set(policy["img-src"])  # Plotly's PNG export


def test_live_feeds_may_connect_back_to_the_host_the_page_came_from_only(admin_client):
    policy = _policy(admin_client.get("/", HTTP_HOST="localhost:8000"))
    assert policy["connect-src"] == ["'self'", "ws://localhost:8000", "wss://localhost:8000"]


def test_the_templates_have_no_inline_script_or_event_handler():
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, f"{path}: inline {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{path}: an on...= handler"
        assert "javascript:" not in text, f"{path}: a javascript: URL"


def test_the_scripts_build_no_event_handler_attributes():
    for path in (ROOT / "static" / "js").glob("*.js"):
        text = path.read_text()
        assert not re.search(r"""["'`][^"'`]*\son[a-z]+=""", text), f"{path}: an on...= in markup"
        assert "eval(" not in text and "new Function" not in text, f"{path}: eval"


def test_the_api_docs_page_loads_its_start_up_script_from_a_url(admin_client):
    page = admin_client.get("/api/docs/")
    assert page.status_code == 200
    tags = re.findall(rb"<script\b[^>]*>", page.content)
    assert tags and all(b"src=" in tag for tag in tags), tags
    script_url = re.findall(rb'<script src="([^"]*script[^"]*)"', page.content)[-1].decode()
    script = admin_client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content
