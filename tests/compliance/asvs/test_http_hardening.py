"""OWASP ASVS 5.0 HTTP hardening that applies to every page: no framing, no off-origin
resources, no referrer leak, no debug pages, no TRACE, no cached sign-in page, and
HttpOnly SameSite cookies.

Each test cites its requirement in its docstring and in the ``spec`` marker. The admin
sign-in page stands in for the hosted sign-in pages until they exist.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db

HTML_PAGES = ["/", "/admin/login/"]


@pytest.mark.spec("ASVS 5.0", "3.4.6")
@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_cannot_be_framed(client, path):
    """ASVS 5.0 §3.4.6, RFC 9700 §4.16: frame-ancestors 'none' and X-Frame-Options DENY on sign-in
    pages."""
    response = client.get(path)
    assert response.status_code == HTTPStatus.OK
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.spec("ASVS 5.0", "3.4.5")
@pytest.mark.parametrize("path", HTML_PAGES)
def test_no_third_party_resources_and_no_referrer_leak(client, path):
    """ASVS 5.0 §3.4.5, RFC 9700 §4.2.4: no off-origin src/href, and a Referrer-Policy that keeps
    URLs on this origin."""
    response = client.get(path)
    assert response["Referrer-Policy"] in ("no-referrer", "same-origin")
    html = response.content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not urlsplit(url).netloc, f"off-origin resource {url}"
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.spec("ASVS 5.0", "13.4.2")
def test_unknown_page_is_generic(client):
    """ASVS 5.0 §13.4.2: a 404 shows no debug page, URL list or settings."""
    response = client.get("/no-such-page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    body = response.content.decode()
    assert "URLconf" not in body and "Traceback" not in body and "DEBUG" not in body


@pytest.mark.spec("ASVS 5.0", "13.4.4")
@pytest.mark.parametrize("path", ["/", "/admin/login/", "/health", "/metrics"])
def test_trace_is_refused(client, path):
    """ASVS 5.0 §13.4.4: TRACE is answered 405 on every page."""
    response = client.generic("TRACE", path)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.spec("ASVS 5.0", "14.3.2")
def test_sign_in_page_is_not_cached(client):
    """ASVS 5.0 §14.3.2: the sign-in page is sent with Cache-Control: no-store."""
    response = client.get("/admin/login/")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.spec("ASVS 5.0", "3.4.2")
def test_session_and_csrf_cookies_are_httponly_and_samesite(client, user, password, settings):
    """ASVS 5.0 §3.4.2: the session and CSRF cookies are HttpOnly, Secure and SameSite=Lax."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    user.is_staff = True
    user.save()
    page = client.get("/admin/login/")
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["secure"] and csrf["samesite"] == "Lax"
    response = client.post("/admin/login/", {"username": "alice", "password": password})
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["secure"] and session["samesite"] == "Lax"
