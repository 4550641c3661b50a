"""The whole OpenID Connect life cycle, driven by a real client library (Authlib).

Authlib talks to the real WSGI application in-process; the "browser" is the
``signed_in`` client of tests/support/oauth.py. Tokens are verified against
the published JWKS with jwcrypto, as a relying party or resource server would.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from jwcrypto import jwk, jwt

from django.core.management import call_command

from audit.models import AuditEvent
from common.conf import authsite_settings
from tests.support.oauth import REDIRECT_URI, approve, sign_in

pytestmark = pytest.mark.django_db


def discover(http) -> dict:
    return http.get("/.well-known/openid-configuration").json()


def rp_for(http, client_id, secret, *, redirect_uri=REDIRECT_URI, scope="openid profile email"):
    """Authlib's OAuth2 client, configured with nothing but id, secret and redirect URI."""
    return OAuth2Client(
        client_id,
        secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        transport=http._transport,
    )


def browser_login(http, rp, metadata, *, consent: bool) -> tuple[str, str, str]:
    """Run the front channel; return (authorization response URL, verifier, nonce)."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, _state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    parts = urlsplit(url)
    response = http.get(f"{parts.path}?{parts.query}")
    if consent:
        assert response.status_code == 200, response.text[:300]
        assert 'name="allow"' in response.text
        response = approve(http, response)
    assert response.status_code == 302, response.text[:300]
    return response.headers["location"], verifier, nonce


def verify(token: str, metadata: dict, http) -> tuple[dict, dict]:
    """Verify a JWT against the published JWKS; return (header, claims)."""
    keyset = jwk.JWKSet.from_json(http.get(urlsplit(metadata["jwks_uri"]).path).text)
    parsed = jwt.JWT(jwt=token, key=keyset, algs=["RS256", "ES256"])
    return json.loads(parsed.header), json.loads(parsed.claims)


def test_code_pkce_tokens_userinfo_refresh_reuse_revoke_introspect(signed_in, confidential, user):
    """OIDC Core §3.1 end to end, RFC 9700 §4.14.2 reuse detection, RFC 7009, RFC 7662."""
    app, secret = confidential
    metadata = discover(signed_in)
    rp = rp_for(signed_in, app.client_id, secret)

    location, verifier, nonce = browser_login(signed_in, rp, metadata, consent=True)
    assert dict(httpx.URL(location).params)["iss"] == metadata["issuer"]
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )

    header, id_claims = verify(token["id_token"], metadata, signed_in)
    assert header["alg"] == "RS256"
    assert id_claims["iss"] == metadata["issuer"]
    assert id_claims["aud"] == app.client_id
    assert id_claims["nonce"] == nonce
    assert id_claims["sub"] == str(user.uuid)
    assert id_claims["amr"] == ["pwd"] and id_claims["acr"] == "1"
    assert id_claims["sid"] and id_claims["auth_time"] <= id_claims["iat"]

    header, at_claims = verify(token["access_token"], metadata, signed_in)
    assert header["typ"] == "at+jwt"  # RFC 9068 §2.1
    assert at_claims["client_id"] == app.client_id
    assert at_claims["sub"] == str(user.uuid)
    assert at_claims["scope"] == "openid profile email"
    assert at_claims["exp"] - at_claims["iat"] == token["expires_in"] == 600

    # The profile and email claims are in userinfo, not the ID token (OIDC Core §5.4), and
    # alice has no first or last name: no given_name or family_name, not "" (§5.3.2).
    assert not {"name", "email", "preferred_username"} & set(id_claims)
    userinfo = rp.get(metadata["userinfo_endpoint"]).json()
    assert userinfo == {
        "sub": str(user.uuid),
        "name": "alice",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "email_verified": True,
    }

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != token["access_token"]

    # Presenting the rotated refresh token again revokes the whole family.
    replay = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(app.client_id, secret),
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    newest = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(app.client_id, secret),
    )
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    introspection = rp.introspect_token(
        metadata["introspection_endpoint"], token=refreshed["access_token"]
    )
    assert introspection.json() == {"active": False}
    denied = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert denied.status_code == 401


def test_revoked_access_token_is_inactive_everywhere(signed_in, first_party):
    """RFC 7009 §2.1 revocation, seen by introspection (RFC 7662) and userinfo (RFC 6750)."""
    app, secret = first_party
    metadata = discover(signed_in)
    rp = rp_for(signed_in, app.client_id, secret)
    location, verifier, _ = browser_login(signed_in, rp, metadata, consent=False)
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    active = rp.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert active.json()["active"] is True
    assert active.json()["username"]
    assert active.json()["token_type"] == "Bearer"

    revoked = rp.revoke_token(
        metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert revoked.status_code == 200
    after = rp.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert after.json() == {"active": False}
    userinfo = signed_in.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 401
    assert "invalid_token" in userinfo.headers["www-authenticate"]
    # Revoking the access token also ended the refresh token bound to it (RFC 7009 §2.1).
    refresh = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(app.client_id, secret),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_key_rotation_mid_session_keeps_tokens_valid(signed_in, first_party):
    """Tokens signed before a rotation verify after it; new ones carry the new kid."""
    from oauth import keys

    app, secret = first_party
    metadata = discover(signed_in)
    rp = rp_for(signed_in, app.client_id, secret)
    location, verifier, _ = browser_login(signed_in, rp, metadata, consent=False)
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    old_id_kid = verify(token["id_token"], metadata, signed_in)[0]["kid"]
    old_kid = verify(token["access_token"], metadata, signed_in)[0]["kid"]
    upcoming = {k["kid"] for k in keys.public_jwks()["keys"]} - {old_id_kid, old_kid}

    keys.rotate_signing_keys(force=True)

    assert verify(token["id_token"], metadata, signed_in)[0]["kid"] == old_id_kid
    assert verify(token["access_token"], metadata, signed_in)[0]["kid"] == old_kid
    assert rp.get(metadata["userinfo_endpoint"]).status_code == 200
    refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    new_kid = verify(refreshed["access_token"], metadata, signed_in)[0]["kid"]
    assert new_kid != old_kid
    assert new_kid in upcoming, "the key that now signs was published before it signed"


def test_es256_client_gets_es256_id_tokens(signed_in, first_party):
    app, secret = first_party
    app.algorithm = "ES256"
    app.save()
    metadata = discover(signed_in)
    rp = rp_for(signed_in, app.client_id, secret)
    location, verifier, _ = browser_login(signed_in, rp, metadata, consent=False)
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert verify(token["id_token"], metadata, signed_in)[0]["alg"] == "ES256"


def test_client_credentials(http, service_client):
    """RFC 6749 §4.4 for a confidential client; the client is the subject (RFC 9068 §2.2)."""
    app, secret = service_client
    metadata = discover(http)
    rp = OAuth2Client(app.client_id, secret, transport=http._transport)
    token = rp.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert "refresh_token" not in token and "id_token" not in token
    _, claims = verify(token["access_token"], metadata, http)
    assert claims["sub"] == app.client_id and "auth_time" not in claims
    introspection = rp.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    )
    assert introspection.json()["active"] is True
    assert "username" not in introspection.json()


def test_remembered_consent_is_not_asked_twice(signed_in, confidential):
    app, secret = confidential
    metadata = discover(signed_in)
    rp = rp_for(signed_in, app.client_id, secret)
    browser_login(signed_in, rp, metadata, consent=True)
    location, verifier, _ = browser_login(signed_in, rp, metadata, consent=False)
    assert "code=" in location
    # The trail says consent was given once, when it was; each code is still recorded.
    assert AuditEvent.objects.filter(action="oauth.consent.granted").count() == 1
    assert AuditEvent.objects.filter(action="oauth.code.issued").count() == 2
    # Another scope set is a new question.
    other = rp_for(signed_in, app.client_id, secret, scope="openid email")
    url, _ = other.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=secrets.token_urlsafe(48)
    )
    page = signed_in.get(url)
    assert page.status_code == 200 and 'name="allow"' in page.text


def test_demo_client_from_bootstrap_completes_the_flow(http, settings, capsys):
    """What `make run` creates works with a standard client and nothing else configured."""
    call_command("bootstrap", "--json", "--demo")
    created = json.loads(capsys.readouterr().out)
    client, demo_user = created["demo_client"], created["demo_user"]
    sign_in(http, demo_user["username"] or demo_user["email"], demo_user["password"])
    metadata = discover(http)
    redirect_uri = created["demo_client"].get("redirect_uris", ["http://127.0.0.1:8080/callback"])
    redirect_uri = redirect_uri[0] if isinstance(redirect_uri, list) else redirect_uri.split()[0]
    rp = rp_for(http, client["client_id"], client["client_secret"], redirect_uri=redirect_uri)
    location, verifier, nonce = browser_login(http, rp, metadata, consent=True)
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    _, id_claims = verify(token["id_token"], metadata, http)
    assert id_claims["nonce"] == nonce
    assert id_claims["iss"] == authsite_settings.PUBLIC_URL
    assert rp.get(metadata["userinfo_endpoint"]).json()["email_verified"] is True
