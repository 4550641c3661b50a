"""RFC 9700 / OAuth 2.1 rows A11, A13 and A21–A33 of shared/SECURITY-CHECKLIST.md §2:
the token endpoint, authorization codes and refresh tokens."""

from __future__ import annotations

import math
import string
from datetime import timedelta
from http import HTTPStatus

import pytest

from django.utils import timezone

from oauth.models import Grant, RefreshToken
from tests.support.oauth import (
    REDIRECT_URI,
    authorize,
    code_for,
    code_from,
    exchange,
    introspect,
    make_client,
    pkce_pair,
    refresh,
    tokens_for,
    userinfo,
)

pytestmark = pytest.mark.django_db


def assert_error(response, error, status=HTTPStatus.BAD_REQUEST):
    """An RFC 6749 §5.2 error as a client sees it: status, JSON body, no tokens."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body


def active(http, app, secret, token) -> bool:
    response = introspect(http, app, secret, token)
    assert response.status_code == HTTPStatus.OK, response.text
    return response.json()["active"]


@pytest.mark.spec("RFC 9700", "2.4")
def test_a11_password_grant_is_not_offered(http, user, password, first_party):
    """A11: grant_type=password → unsupported_grant_type, and it is not advertised."""
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
def test_a13_repeated_parameter_at_client_endpoints_is_invalid_request(
    http, first_party, path, body
):
    """A13: any repeated parameter → 400 invalid_request (RFC 6749 §3.2, OAuth 2.1 §3.2.4)."""
    app, secret = first_party
    response = http.post(
        path,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(app.client_id, secret),
    )
    assert_error(response, "invalid_request")


@pytest.mark.spec("RFC 9700", "4.2.4")
def test_a21_expired_code_is_invalid_grant(signed_in, first_party):
    """A21: a code redeemed after it expired → invalid_grant (RFC 6749 §4.1.2: 10 min max)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    grant = Grant.objects.get(code=code)
    assert grant.expires - timezone.now() <= timedelta(minutes=10)
    Grant.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert_error(exchange(signed_in, app, secret, code, verifier), "invalid_grant")


@pytest.mark.spec("RFC 6749", "4.1.3")
def test_a22_code_is_bound_to_its_client(signed_in, first_party):
    """A22: another client's credentials → invalid_grant, and the code still works for its own
    client afterwards (the attempt did not claim it)."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    code, verifier = code_for(signed_in, app)
    assert_error(exchange(signed_in, other, other_secret, code, verifier), "invalid_grant")
    assert exchange(signed_in, app, secret, code, verifier).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 6749", "4.1.3")
@pytest.mark.parametrize("redirect_uri", ["https://rp.test/other", "https://rp.test/cb/"])
def test_a22_code_is_bound_to_its_redirect_uri(signed_in, first_party, redirect_uri):
    """A22: a redirect_uri other than the authorization request's → invalid_grant (RFC 6749
    §4.1.3, §5.2)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    response = exchange(signed_in, app, secret, code, verifier, redirect_uri=redirect_uri)
    assert_error(response, "invalid_grant")


@pytest.mark.spec("RFC 9700", "4.2.4")
def test_a23_code_replay_revokes_what_the_code_minted(signed_in, first_party):
    """A23: a second redemption → invalid_grant, and the first access and refresh tokens stop
    working (OAuth 2.1 §4.1.3; OIDF oidcc-codereuse)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    first = exchange(signed_in, app, secret, code, verifier)
    assert first.status_code == HTTPStatus.OK
    tokens = first.json()
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.OK

    assert_error(exchange(signed_in, app, secret, code, verifier), "invalid_grant")

    assert introspect(signed_in, app, secret, tokens["access_token"]).json() == {"active": False}
    info = userinfo(signed_in, tokens["access_token"])
    assert info.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in info.headers["www-authenticate"]
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 9700", "4.2.4")
@pytest.mark.parametrize("attempt", ["wrong-verifier", "no-verifier", "wrong-secret"])
def test_a23_unproven_replay_revokes_nothing(signed_in, first_party, attempt):
    """A23: a replay without the verifier or the client's secret fails and revokes nothing
    (OAuth 2.1 §7.5.2: no one can revoke someone's tokens by guessing)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    tokens = exchange(signed_in, app, secret, code, verifier).json()
    if attempt == "wrong-secret":
        response = exchange(signed_in, app, "not-the-secret", code, verifier)
        assert_error(response, "invalid_client", HTTPStatus.UNAUTHORIZED)
    else:
        wrong = pkce_pair()[0] if attempt == "wrong-verifier" else None
        response = exchange(signed_in, app, secret, code, wrong)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert active(signed_in, app, secret, tokens["access_token"])
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.OK
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 6749", "5.1")
def test_a25_token_endpoint_shape(signed_in, first_party):
    """A25: POST only; success is JSON, no-store, Bearer, with expires_in (RFC 6749 §5.1)."""
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


@pytest.mark.spec("RFC 9700", "2.5")
def test_a26_wrong_secret_is_401_with_www_authenticate(http, first_party):
    """A26: a wrong Basic secret → 401 invalid_client naming the Basic scheme (RFC 6749 §5.2)."""
    app, _ = first_party
    response = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43},
        auth=(app.client_id, "wrong"),
    )
    assert_error(response, "invalid_client", HTTPStatus.UNAUTHORIZED)
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.spec("RFC 9700", "2.5")
def test_a26_basic_and_body_credentials_together_are_invalid_request(http, first_party):
    """A26: two authentication methods in one request → 400 invalid_request (OAuth 2.1 §2.4)."""
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
def test_a26_secret_in_the_query_string_is_rejected(http, first_party):
    """A26: client_secret in the request URI → 400 invalid_request (OAuth 2.1 §2.4.1)."""
    app, secret = first_party
    response = http.post(
        "/oauth/token",
        params={"client_id": app.client_id, "client_secret": secret},
        data={"grant_type": "client_credentials"},
    )
    assert_error(response, "invalid_request")


@pytest.mark.spec("RFC 9700", "2.5")
def test_a26_client_authentication_is_throttled(http, service_client):
    """A26: 20 wrong secrets in a row → 429 with Retry-After, even for the right secret from
    that address, while the real client keeps working from its own (OAuth 2.1 §2.4.1:
    protect against brute force)."""
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


@pytest.mark.spec("RFC 6749", "3.3")
def test_a27_scope_not_assigned_to_the_client_is_invalid_scope(db, http):
    """A27: a client_credentials client asking for a scope it was not given → invalid_scope."""
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
def test_a27_authorization_request_outside_the_client_scopes_is_invalid_scope(
    signed_in, first_party
):
    """A27: the authorization endpoint applies the same per-client scope allowlist."""
    app, _ = make_client(name="Narrow", first_party=True, scopes=["openid"])
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, scope="openid email")
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert "error=invalid_scope" in response.headers["location"]


@pytest.mark.spec("RFC 9700", "2.5")
def test_a27_grant_types_are_per_client(http, public_client, first_party, service_client):
    """A27: a public client cannot use client_credentials, nor a code-flow client; the service
    client can (OAuth 2.1 §4.2: confidential clients only)."""
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
def test_a28_refresh_rotation_and_reuse_revokes_the_family(signed_in, first_party):
    """A28: refresh rotates; replaying the old refresh token revokes the newest one and its
    access token (§4.14.2; OAuth 2.1 §4.3.1)."""
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
def test_a28_revoked_refresh_token_is_never_honoured(signed_in, first_party):
    """A28: a refresh token revoked at /revoke cannot be used (DOT #1816, no grace period)."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    response = signed_in.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(app.client_id, secret),
    )
    assert response.status_code == HTTPStatus.OK
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 6749", "6")
def test_a29_refresh_token_is_bound_to_its_client(signed_in, first_party):
    """A29: another client's credentials with the refresh token → invalid_grant; the token
    still works for its own client."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    tokens = tokens_for(signed_in, app, secret)
    assert_error(refresh(signed_in, other, other_secret, tokens["refresh_token"]), "invalid_grant")
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_a30_refresh_cannot_widen_scope(signed_in, first_party):
    """A30: a wider scope → invalid_scope; none → the grant's scope, kept by the new refresh
    token; a narrower one is allowed (RFC 6749 §6)."""
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


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_a31_idle_refresh_token_expires(signed_in, first_party):
    """A31: a refresh token unused for longer than the idle lifetime → invalid_grant."""
    app, secret = first_party
    app.refresh_token_idle_lifetime_seconds = 600
    app.save()
    tokens = tokens_for(signed_in, app, secret)
    row = RefreshToken.objects.get(token_checksum=_checksum(tokens["refresh_token"]))
    RefreshToken.objects.filter(pk=row.pk).update(created=row.created - timedelta(seconds=601))
    assert introspect(signed_in, app, secret, tokens["refresh_token"]).json() == {"active": False}
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 9700", "4.14.2")
def test_a31_refresh_token_family_has_an_absolute_lifetime(signed_in, first_party):
    """A31: a family older than the absolute lifetime → invalid_grant, even for a refresh token
    that was just rotated (still inside its idle lifetime)."""
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
def test_a33_codes_and_refresh_tokens_cannot_be_guessed(signed_in, first_party):
    """A33: sampled codes and refresh tokens are unique and carry ≥ 160 bits (OAuth 2.1 §7.7)."""
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
