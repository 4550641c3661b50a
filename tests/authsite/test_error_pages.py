"""Error answers at the edge: the branded page for people, JSON for machine endpoints.

400, 500 and 503 pages carry the site's name, accent stylesheet and support address
like every other page; they are rendered from settings alone, so they appear even
when the database is what failed.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest

from django.test import Client
from django.urls import reverse

from authsite import errors

pytestmark = pytest.mark.django_db

BRAND = {"AUTHSITE_SITE_NAME": "Example Identity", "AUTHSITE_SUPPORT_EMAIL": "help@example.org"}


@pytest.fixture
def branded(settings):
    for name, value in BRAND.items():
        setattr(settings, name, value)
    settings.ALLOWED_HOSTS = ["testserver"]
    return settings


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def assert_branded(response, status):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Example Identity" in html
    assert "mailto:help@example.org" in html
    assert "/branding.css?v=" in html, "the accent stylesheet, with its version"
    assert "Traceback" not in html and "django" not in html.lower()


@pytest.mark.urls("tests.authsite.error_urls")
def test_500_page_is_branded(branded, client):
    """A bug on a page gives the branded 500 page (with DEBUG on, Django's technical page)."""
    response = client.get("/boom")
    assert_branded(response, HTTPStatus.INTERNAL_SERVER_ERROR)
    assert "Something went wrong" in response.content.decode()


@pytest.mark.urls("tests.authsite.error_urls")
@pytest.mark.parametrize("debug", [False, True])
def test_unreachable_database_gives_a_branded_503_page(branded, client, debug):
    """A page whose database is unreachable answers 503 + Retry-After with the branded page."""
    branded.DEBUG = debug
    response = client.get("/db-down")
    assert_branded(response, HTTPStatus.SERVICE_UNAVAILABLE)
    assert int(response["Retry-After"]) > 0


@pytest.mark.urls("tests.authsite.error_urls")
@pytest.mark.parametrize("debug", [False, True])
def test_machine_endpoint_errors_are_json(branded, client, debug):
    """RFC 6749 §5.2: a bug or an outage under a machine endpoint is JSON, never a page."""
    branded.DEBUG = debug
    outage = client.post("/oauth/token/db-down")
    assert outage.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert outage["Content-Type"] == "application/json"
    assert outage.json()["error"] == "temporarily_unavailable"
    assert int(outage["Retry-After"]) > 0
    bug = client.post("/oauth/token/boom")
    assert bug.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert bug["Content-Type"] == "application/json"
    assert bug.json()["error"] == "server_error"


@pytest.mark.parametrize("debug", [False, True])
def test_disallowed_host_on_a_page_gives_the_branded_400(branded, client, debug):
    branded.DEBUG = debug
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert_branded(response, HTTPStatus.BAD_REQUEST)


@pytest.mark.parametrize("debug", [False, True])
def test_oversized_form_on_a_page_gives_the_branded_page(branded, client, debug, caplog):
    """An oversized sign-in form gets the branded page; no ERROR, no traceback in the log."""
    branded.DEBUG = debug
    body = "username=alice&password=" + "x" * (branded.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/accounts/login/", body, content_type="application/x-www-form-urlencoded"
        )
    assert_branded(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_too_many_fields_on_a_page_gives_the_branded_400(branded, client):
    body = "&".join(f"f{i}=1" for i in range(branded.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(
        "/accounts/login/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_branded(response, HTTPStatus.BAD_REQUEST)


def test_every_machine_endpoint_is_answered_in_json():
    """The named machine URLs all fall under the paths authsite.errors answers in JSON."""
    names = [
        "oauth:token",
        "oauth:revoke",
        "oauth:introspect",
        "oauth:userinfo",
        "oauth:openid-configuration",
        "oauth:authorization-server-metadata",
        "oauth:jwks",
        "health-ready",
    ]
    for name in names:
        assert errors.is_machine_path(reverse(name)), name
    for page in ("oauth:authorize", "oauth:end-session", "accounts:login", "index"):
        assert not errors.is_machine_path(reverse(page)), page
    assert not errors.is_machine_path("/oauth/tokenish")


@pytest.mark.parametrize("debug", [False, True])
def test_too_many_query_fields_on_a_page_gives_the_branded_400(branded, client, debug):
    """Django's DEBUG page itself fails on such a query: it is answered before any view."""
    branded.DEBUG = debug
    query = "&".join(f"f{i}=1" for i in range(branded.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    assert_branded(client.get(f"/accounts/login/?{query}"), HTTPStatus.BAD_REQUEST)


def test_probes_by_address_are_not_refused_for_their_host(settings, client):
    """Load balancers probe /health/live by IP address: that Host is not refused there."""
    settings.ALLOWED_HOSTS = ["id.example.com"]
    assert client.get("/health/live", HTTP_HOST="10.0.0.5:8000").status_code == HTTPStatus.OK
    refused = client.get("/.well-known/jwks.json", HTTP_HOST="10.0.0.5:8000")
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused["Content-Type"] == "application/json"


@pytest.mark.slow
def test_real_server_in_debug_answers_machine_errors_in_json(tmp_path):
    """Under gunicorn + uvicorn with DEBUG on (the development default), as a client sees it:
    JSON for an oversized body, a foreign Host and a wrong method; no ERROR in the log."""
    import httpx

    from tests.support.servers import Server, base_env, manage

    env = base_env(tmp_path)
    assert manage(env, "migrate", "--noinput").returncode == 0
    with Server(env) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        big = http.post(
            "/oauth/token",
            content=b"grant_type=" + b"x" * (1024 * 1024 + 1),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        host = http.post("/oauth/introspect", headers={"Host": "evil.example"})
        method = http.put("/.well-known/jwks.json")
        for response, status in ((big, 413), (host, 400), (method, 405)):
            assert response.status_code == status, response.text[:200]
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == "invalid_request"
        assert "GET" in method.headers["allow"]
        log = server.output()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
