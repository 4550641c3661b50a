"""Request ids, security headers and trusted-proxy handling on every response."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from common.net import resolve_client_ip


@pytest.fixture
def metrics_only_from(settings):
    """/metrics readable only from 10.0.0.0/8: a probe for the address authsite believes."""
    settings.AUTHSITE_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.AUTHSITE_METRICS_TOKEN = ""
    return settings


def test_sane_incoming_request_id_is_returned(client):
    response = client.get("/health/live", headers={"X-Request-ID": "req-1234.abc_DEF:9"})
    assert response["X-Request-ID"] == "req-1234.abc_DEF:9"


@pytest.mark.parametrize(
    "incoming", ["", "x" * 129, "has space", "line\r\nbreak", "<script>", "ü-unicode"]
)
def test_insane_request_id_is_replaced_by_a_generated_one(client, incoming):
    response = client.get("/health/live", headers={"X-Request-ID": incoming})
    generated = response["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32 and generated.isalnum()


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/health/live")["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.django_db
def test_html_pages_carry_security_headers(client):
    response = client.get("/admin/login/")
    assert response.status_code == HTTPStatus.OK
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "Strict-Transport-Security" not in response, "no HSTS over plain http"


@pytest.mark.django_db
def test_hsts_is_sent_over_https(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/admin/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_forwarded_proto_from_an_untrusted_peer_is_ignored(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.AUTHSITE_TRUSTED_PROXIES = []
    response = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response
    settings.AUTHSITE_TRUSTED_PROXIES = ["127.0.0.1/32"]
    response = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response


def test_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(client, metrics_only_from):
    metrics_only_from.AUTHSITE_TRUSTED_PROXIES = []
    response = client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_forwarded_for_from_a_trusted_proxy_names_the_client(client, metrics_only_from):
    metrics_only_from.AUTHSITE_TRUSTED_PROXIES = ["127.0.0.1/32"]
    response = client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status_code == HTTPStatus.OK
    # A client cannot prepend a trusted-looking hop through the proxy.
    response = client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3, 198.51.100.7"})
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, 10.0.0.2", "203.0.113.9"),  # 10.0.0.2 is another trusted proxy
        ("a", "10.0.0.1"),  # garbage stops at the proxy: no new identity per request
        ("203.0.113.9, a", "10.0.0.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("", "10.0.0.1"),
    ],
)
def test_client_ip_walks_forwarded_for_from_the_right(forwarded_for, expected):
    meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for}
    assert resolve_client_ip(meta, ("10.0.0.0/8",)) == expected


def test_untrusted_peer_loses_every_forwarding_header():
    meta = {
        "REMOTE_ADDR": "198.51.100.1",
        "HTTP_X_FORWARDED_FOR": "1.2.3.4",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "evil.example",
        "HTTP_FORWARDED": "for=1.2.3.4",
    }
    assert resolve_client_ip(meta, ("10.0.0.0/8",)) == "198.51.100.1"
    assert meta == {"REMOTE_ADDR": "198.51.100.1"}
