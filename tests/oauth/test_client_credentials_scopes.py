"""Scopes of client_credentials tokens: no default ``openid``, and never ``openid`` at all,
since OIDC scopes describe a user and these tokens have none (RFC 6749 §3.3, §4.4)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import client_credentials, introspect

pytestmark = pytest.mark.django_db


def test_no_scope_requested_means_a_token_with_no_scope(http, service_client):
    """DEFAULT_SCOPES (``openid``) is for users: a client asking for nothing gets nothing."""
    app, secret = service_client
    response = client_credentials(http, app, secret)
    assert response.status_code == HTTPStatus.OK, response.text
    assert "scope" not in response.json()
    token = response.json()["access_token"]
    details = introspect(http, app, secret, token).json()
    assert details["active"] is True
    assert "scope" not in details  # no scope granted, none claimed
    assert details["sub"] == app.client_id


@pytest.mark.parametrize("scope", ["openid", "openid roles"])
def test_openid_without_a_user_is_invalid_scope(http, service_client, scope):
    """``openid`` asks for an ID token about a user; a client alone has none (OIDC Core §3)."""
    app, secret = service_client
    response = client_credentials(http, app, secret, scope=scope)
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.text
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()


def test_a_non_oidc_scope_is_still_granted(http, service_client):
    """Only ``openid`` is refused: other scopes the client may use are granted as asked."""
    app, secret = service_client
    response = client_credentials(http, app, secret, scope="roles")
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["scope"] == "roles"
