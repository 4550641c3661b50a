"""RFC 6749 at the token endpoint: parameters, the response's shape, scopes (§3.3) and
refresh (§6)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import (
    REDIRECT_URI,
    assert_error,
    authorize,
    code_for,
    exchange,
    introspect,
    make_client,
    pkce_pair,
    refresh,
    tokens_for,
)

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 6749", "3.2")
@pytest.mark.parametrize(
    "path, body",
    [
        ("/oauth/token", "grant_type=authorization_code&code=A&code=B"),
        ("/oauth/token", "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x"),
        ("/oauth/revoke", "token=A&token=B"),
        ("/oauth/introspect", "token=A&token=B"),
        ("/oauth/introspect", "token=A&token_type_hint=a&token_type_hint=b"),
    ],
)
def test_repeated_parameter_at_client_endpoints_is_invalid_request(http, first_party, path, body):
    """RFC 6749 §3.2: any repeated parameter → 400 invalid_request (RFC 6749 §3.2, OAuth 2.1
    §3.2.4)."""
    app, secret = first_party
    response = http.post(
        path,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(app.client_id, secret),
    )
    assert_error(response, "invalid_request")


@pytest.mark.spec("RFC 6749", "5.1")
def test_token_response_is_no_store_json_with_a_bearer_token(signed_in, first_party):
    """RFC 6749 §5.1, §5.2: POST only; success is JSON, no-store, Bearer, with expires_in."""
    app, secret = first_party
    get = signed_in.get("/oauth/token", params={"grant_type": "authorization_code"})
    assert get.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert "access_token" not in get.text
    code, verifier = code_for(signed_in, app)
    response = exchange(signed_in, app, secret, code, verifier)
    assert response.status_code == HTTPStatus.OK
    assert response.headers["content-type"] == "application/json"
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    error = exchange(signed_in, app, secret, "nope", verifier)
    assert_error(error, "invalid_grant")
    assert "no-store" in error.headers["cache-control"]


@pytest.mark.spec("RFC 6749", "3.3")
def test_scope_not_assigned_to_the_client_is_invalid_scope(db, http):
    """RFC 6749 §3.3: a client_credentials client asking for a scope it was not given →
    invalid_scope."""
    app, secret = make_client(
        name="Service", grant_types=["client_credentials"], redirect_uris=[], scopes=["roles"]
    )
    ok = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "roles"},
        auth=(app.client_id, secret),
    )
    assert ok.status_code == HTTPStatus.OK, ok.text
    assert ok.json()["scope"] == "roles"
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "roles email"},
        auth=(app.client_id, secret),
    )
    assert_error(response, "invalid_scope")


@pytest.mark.spec("RFC 6749", "3.3")
def test_authorization_request_outside_the_client_scopes_is_invalid_scope(signed_in, first_party):
    """RFC 6749 §3.3: the authorization endpoint applies the same per-client scope allowlist."""
    app, _ = make_client(name="Narrow", first_party=True, scopes=["openid"])
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, scope="openid email")
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert "error=invalid_scope" in response.headers["location"]


@pytest.mark.spec("RFC 6749", "6")
def test_refresh_token_is_bound_to_its_client(signed_in, first_party):
    """RFC 6749 §6, §10.4: another client's credentials with the refresh token → invalid_grant; the
    token still works for its own client."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    tokens = tokens_for(signed_in, app, secret)
    assert_error(refresh(signed_in, other, other_secret, tokens["refresh_token"]), "invalid_grant")
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 6749", "6")
def test_refresh_cannot_widen_scope(signed_in, first_party):
    """RFC 6749 §6, RFC 9700 §4.14.2: a wider scope → invalid_scope; none → the grant's scope, kept
    by the new refresh token; a narrower one is allowed."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret, scope="openid profile")
    wider = refresh(signed_in, app, secret, tokens["refresh_token"], scope="openid profile email")
    assert_error(wider, "invalid_scope")

    same = refresh(signed_in, app, secret, tokens["refresh_token"])
    assert same.status_code == HTTPStatus.OK, same.text
    assert set(same.json()["scope"].split()) == {"openid", "profile"}
    rt = introspect(signed_in, app, secret, same.json()["refresh_token"]).json()
    assert set(rt["scope"].split()) == {"openid", "profile"}

    narrower = refresh(signed_in, app, secret, same.json()["refresh_token"], scope="openid")
    assert narrower.status_code == HTTPStatus.OK, narrower.text
    assert narrower.json()["scope"] == "openid"
