"""/metrics is for operators only: configured networks or a bearer token."""

from __future__ import annotations

from http import HTTPStatus

import pytest

OUTSIDER = {"REMOTE_ADDR": "203.0.113.50"}


@pytest.fixture
def locked_down(settings):
    settings.AUTHSITE_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.AUTHSITE_METRICS_TOKEN = "s3cr3t-metrics-token-for-tests"
    settings.AUTHSITE_TRUSTED_PROXIES = []
    return settings


def test_unknown_caller_is_refused(client, locked_down):
    response = client.get("/metrics", **OUTSIDER)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert b"authsite_http_requests_total" not in response.content


def test_wrong_token_is_refused(client, locked_down):
    response = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cr3t-metrics-token-for-testX"}, **OUTSIDER
    )
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_token_grants_access_from_anywhere(client, locked_down):
    response = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cr3t-metrics-token-for-tests"}, **OUTSIDER
    )
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_allowed_network_reads_authsite_counters(client, locked_down):
    client.get("/health/live")
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert 'authsite_http_requests_total{method="GET",status="200"}' in body
    assert "authsite_logins_total" in body or "# TYPE authsite_logins_total counter" in body
    assert "authsite_http_request_duration_seconds_bucket" in body


def test_no_networks_and_no_token_means_nobody(client, settings):
    settings.AUTHSITE_METRICS_ALLOWED_NETWORKS = []
    settings.AUTHSITE_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == HTTPStatus.FORBIDDEN
    response = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == HTTPStatus.FORBIDDEN
