"""RFC 9700 at the token endpoint: no password grant, client authentication, per-client
grant types, refresh-token rotation and expiry, and unguessable codes and tokens."""

from __future__ import annotations

import math
import string
from datetime import timedelta
from http import HTTPStatus

import pytest

from django.utils import timezone

from oauth.models import RefreshToken
from tests.support.oauth import (
    active,
    assert_error,
    authorize,
    code_from,
    introspect,
    pkce_pair,
    refresh,
    tokens_for,
    userinfo,
)

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 9700", "2.4")
def test_password_grant_is_not_offered(http, user, password, first_party):
    """RFC 9700 §2.4: grant_type=password → unsupported_grant_type, and it is not advertised."""
    app, secret = first_party
    response = http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": user.username, "password": password},
        auth=(app.client_id, secret),
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] in ("unsupported_grant_type", "unauthorized_client")
    assert "access_token" not in response.json()
    metadata = http.get("/.well-known/openid-configuration").json()
    assert "password" not in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]


@pytest.mark.spec("RFC 9700", "2.5")
def test_wrong_client_secret_is_401_with_www_authenticate(http, first_party):
    """RFC 9700 §2.5, RFC 6749 §5.2: a wrong Basic secret → 401 invalid_client naming the Basic
    scheme."""
    app, _ = first_party
    response = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43},
        auth=(app.client_id, "wrong"),
    )
    assert_error(response, "invalid_client", HTTPStatus.UNAUTHORIZED)
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.spec("RFC 9700", "2.5")
def test_basic_and_body_credentials_together_are_invalid_request(http, first_party):
    """RFC 9700 §2.5: two authentication methods in one request → 400 invalid_request (OAuth 2.1
    §2.4)."""
    app, secret = first_party
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": app.client_id,
            "client_secret": secret,
        },
        auth=(app.client_id, secret),
    )
    assert_error(response, "invalid_request")


@pytest.mark.spec("RFC 9700", "2.5")
def test_client_secret_in_the_query_string_is_rejected(http, first_party):
    """RFC 9700 §2.5: client_secret in the request URI → 400 invalid_request (OAuth 2.1 §2.4.1)."""
    app, secret = first_party
    response = http.post(
        "/oauth/token",
        params={"client_id": app.client_id, "client_secret": secret},
        data={"grant_type": "client_credentials"},
    )
    assert_error(response, "invalid_request")


@pytest.mark.spec("RFC 9700", "2.5")
def test_client_authentication_is_throttled_per_address(http, service_client):
    """RFC 9700 §2.5: 20 wrong secrets in a row → 429 with Retry-After, even for the right secret
    from that address, while the real client keeps working from its own (OAuth 2.1 §2.4.1: protect
    against brute force)."""
    import secrets

    import httpx

    from django.core.wsgi import get_wsgi_application

    def client_at(address):
        transport = httpx.WSGITransport(app=get_wsgi_application(), remote_addr=address)
        return httpx.Client(transport=transport, base_url=http.base_url)

    # Fresh documentation addresses: throttle counters outlive the test database.
    attacker = client_at(f"2001:db8:a26::{secrets.randbelow(65536):x}")
    legitimate = client_at(f"2001:db8:a27::{secrets.randbelow(65536):x}")
    app, secret = service_client
    data = {"grant_type": "client_credentials"}
    statuses = [
        attacker.post("/oauth/token", data=data, auth=(app.client_id, "x")).status_code
        for _ in range(20)
    ]
    assert HTTPStatus.TOO_MANY_REQUESTS in statuses
    throttled = attacker.post("/oauth/token", data=data, auth=(app.client_id, secret))
    assert_error(throttled, "invalid_client", HTTPStatus.TOO_MANY_REQUESTS)
    assert int(throttled.headers["retry-after"]) > 0
    response = legitimate.post("/oauth/token", data=data, auth=(app.client_id, secret))
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["access_token"]


@pytest.mark.spec("RFC 9700", "2.5")
def test_grant_types_are_per_client(http, public_client, first_party, service_client):
    """RFC 9700 §2.5: a public client cannot use client_credentials, nor a code-flow client; the
    service client can (OAuth 2.1 §4.2: confidential clients only)."""
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": public_client.client_id},
    )
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert response.json()["error"] in ("unauthorized_client", "invalid_client")
    app, secret = first_party
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, secret)
    )
    assert_error(response, "unauthorized_client")
    app, secret = service_client
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, secret)
    )
    assert response.status_code == HTTPStatus.OK, response.text
    assert "refresh_token" not in response.json()


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_refresh_rotates_and_reuse_revokes_the_family(signed_in, first_party):
    """RFC 9700 §4.14.2: refresh rotates; replaying the old refresh token revokes the newest one and
    its access token (§4.14.2; OAuth 2.1 §4.3.1)."""
    app, secret = first_party
    first = tokens_for(signed_in, app, secret)
    rotated = refresh(signed_in, app, secret, first["refresh_token"])
    assert rotated.status_code == HTTPStatus.OK, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert active(signed_in, app, secret, second["access_token"])

    assert_error(refresh(signed_in, app, secret, first["refresh_token"]), "invalid_grant")

    assert_error(refresh(signed_in, app, secret, second["refresh_token"]), "invalid_grant")
    assert introspect(signed_in, app, secret, second["access_token"]).json() == {"active": False}
    assert userinfo(signed_in, second["access_token"]).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_revoked_refresh_token_is_never_honoured(signed_in, first_party):
    """RFC 9700 §4.14.2: a refresh token revoked at /revoke cannot be used (DOT #1816, no grace
    period)."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    response = signed_in.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(app.client_id, secret),
    )
    assert response.status_code == HTTPStatus.OK
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_idle_refresh_token_expires(signed_in, first_party):
    """RFC 9700 §4.14.2: a refresh token unused for longer than the idle lifetime →
    invalid_grant."""
    app, secret = first_party
    app.refresh_token_idle_lifetime_seconds = 600
    app.save()
    tokens = tokens_for(signed_in, app, secret)
    row = RefreshToken.objects.get(token_checksum=_checksum(tokens["refresh_token"]))
    RefreshToken.objects.filter(pk=row.pk).update(created=row.created - timedelta(seconds=601))
    assert introspect(signed_in, app, secret, tokens["refresh_token"]).json() == {"active": False}
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_refresh_token_family_has_an_absolute_lifetime(signed_in, first_party):
    """RFC 9700 §4.14.2: a family older than the absolute lifetime → invalid_grant, even for a
    refresh token that was just rotated (still inside its idle lifetime)."""
    app, secret = first_party
    app.refresh_token_idle_lifetime_seconds = 600
    app.refresh_token_absolute_lifetime_seconds = 3600
    app.save()
    tokens = tokens_for(signed_in, app, secret)
    rotated = refresh(signed_in, app, secret, tokens["refresh_token"]).json()
    started = timezone.now() - timedelta(seconds=3601)
    RefreshToken.objects.filter(application=app).update(family_started=started)
    row = RefreshToken.objects.get(token_checksum=_checksum(rotated["refresh_token"]))
    assert timezone.now() - row.created < timedelta(seconds=600)
    assert introspect(signed_in, app, secret, rotated["refresh_token"]).json() == {"active": False}
    assert_error(refresh(signed_in, app, secret, rotated["refresh_token"]), "invalid_grant")


def _checksum(token: str) -> str:
    from oauth.tokens import checksum

    return checksum(token)


def _bits(values: list[str], alphabet: str) -> float:
    assert len(set(values)) == len(values), "a value repeated"
    assert all(set(value) <= set(alphabet) for value in values)
    return min(len(value) for value in values) * math.log2(len(alphabet))


@pytest.mark.spec("RFC 9700", "4.2.4")
def test_codes_and_refresh_tokens_cannot_be_guessed(signed_in, first_party):
    """RFC 9700 §4.2.4, RFC 6749 §10.10: sampled codes and refresh tokens are unique and carry ≥ 160
    bits (OAuth 2.1 §7.7)."""
    app, secret = first_party
    _, challenge = pkce_pair()
    codes = [
        code_from(authorize(signed_in, app.client_id, challenge=challenge, scope="openid"))
        for _ in range(200)
    ]
    assert _bits(codes, string.ascii_letters + string.digits) >= 160

    tokens = tokens_for(signed_in, app, secret, scope="openid")
    refresh_tokens, access_tokens = [tokens["refresh_token"]], [tokens["access_token"]]
    for _ in range(100):
        body = refresh(signed_in, app, secret, refresh_tokens[-1]).json()
        refresh_tokens.append(body["refresh_token"])
        access_tokens.append(body["access_token"])
    assert _bits(refresh_tokens, string.ascii_letters + string.digits + "-_") >= 160
    # Access tokens are signed JWTs: unguessable through the signature; each is distinct.
    assert len(set(access_tokens)) == len(access_tokens)
