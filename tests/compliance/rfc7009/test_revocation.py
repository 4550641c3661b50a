"""RFC 9700 / OAuth 2.1 rows A34–A42 of shared/SECURITY-CHECKLIST.md §2: revocation,
introspection, userinfo, metadata, ID tokens, registration and token contents.

A39 (reverse proxy) is a deployment property; A43 (sender-constrained tokens) is a
documented gap, checked here only as "not advertised".
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import time
from http import HTTPStatus

import pytest
from jwcrypto import jwk, jwt

from django.core.exceptions import ValidationError

from common.conf import authsite_settings
from oauth.services import register_client
from tests.support.oauth import (
    introspect,
    make_client,
    refresh,
    revoke,
    tokens_for,
    userinfo,
)

pytestmark = pytest.mark.django_db

INACTIVE = {"active": False}


def client_credentials(http, app, secret, **extra) -> dict:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **extra},
        auth=(app.client_id, secret),
    )
    assert response.status_code == HTTPStatus.OK, response.text
    return response.json()


def jwt_claims(http, token: str) -> tuple[dict, dict]:
    """Verify ``token`` against the published JWKS as a client would; return (header, claims)."""
    keyset = jwk.JWKSet.from_json(http.get("/.well-known/jwks.json").text)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] in {key["kid"] for key in keyset["keys"]}
    verified = jwt.JWT(jwt=token, key=keyset, algs=["RS256", "ES256"])
    return header, json.loads(verified.claims)


# --- A34 revocation (RFC 7009) -------------------------------------------------------


@pytest.mark.spec("RFC 7009", "2.1")
def test_a34_revocation_requires_client_authentication(http, first_party):
    """A34: no or wrong client credentials → 401 invalid_client (RFC 7009 §2.1)."""
    app, _ = first_party
    for response in (
        http.post("/oauth/revoke", data={"token": "x"}),
        revoke(http, app, "wrong", "x"),
    ):
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"
        assert "www-authenticate" in response.headers


@pytest.mark.spec("RFC 7009", "2.2")
def test_a34_unknown_token_answers_200(http, first_party):
    """A34: an unknown or garbage token → 200 (RFC 7009 §2.2)."""
    app, secret = first_party
    assert revoke(http, app, secret, "garbage").status_code == HTTPStatus.OK
    assert revoke(http, app, secret, "a.b.c").status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 7009", "2.1")
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a34_another_clients_token_is_not_revoked(signed_in, first_party, kind):
    """A34: revoking another client's token answers 200 and revokes nothing (DOT #727)."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    tokens = tokens_for(signed_in, app, secret)
    assert revoke(signed_in, other, other_secret, tokens[kind]).status_code == HTTPStatus.OK
    assert introspect(signed_in, app, secret, tokens["access_token"]).json()["active"] is True
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 7009", "2.1")
def test_a34_revoking_a_refresh_token_kills_its_access_tokens(signed_in, first_party):
    """A34: revoking a refresh token revokes the access tokens of its grant (RFC 7009 §2.1)."""
    app, secret = first_party
    first = tokens_for(signed_in, app, secret)
    second = refresh(signed_in, app, secret, first["refresh_token"]).json()
    response = revoke(signed_in, app, secret, second["refresh_token"])
    assert response.status_code == HTTPStatus.OK
    for access_token in (first["access_token"], second["access_token"]):
        assert introspect(signed_in, app, secret, access_token).json() == INACTIVE
    assert userinfo(signed_in, second["access_token"]).status_code == HTTPStatus.UNAUTHORIZED
    assert refresh(signed_in, app, secret, second["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )


@pytest.mark.spec("RFC 7009", "2.1")
def test_a34_revoking_an_access_token_takes_effect_immediately(signed_in, first_party):
    """A34: a revoked access token is refused at userinfo and by introspection at once."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    assert revoke(signed_in, app, secret, tokens["access_token"]).status_code == HTTPStatus.OK
    assert introspect(signed_in, app, secret, tokens["access_token"]).json() == INACTIVE
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.UNAUTHORIZED


# --- A35 introspection (RFC 7662) ----------------------------------------------------


@pytest.mark.spec("RFC 7662", "2.1")
def test_a35_introspection_requires_a_confidential_client(signed_in, first_party, public_client):
    """A35: no credentials, a wrong secret or a public client → 401 with WWW-Authenticate."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    for response in (
        signed_in.post("/oauth/introspect", data={"token": tokens["access_token"]}),
        introspect(signed_in, app, "wrong", tokens["access_token"]),
        signed_in.post(
            "/oauth/introspect",
            data={"token": tokens["access_token"], "client_id": public_client.client_id},
        ),
    ):
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
        assert "active" not in response.json()


@pytest.mark.spec("RFC 7662", "2.2")
def test_a35_inactive_tokens_are_exactly_active_false(signed_in, first_party):
    """A35: unknown, malformed, revoked or expired tokens → exactly {"active": false}."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    revoke(signed_in, app, secret, tokens["access_token"])
    from oauth.models import AccessToken

    expired = tokens_for(signed_in, app, secret)["access_token"]
    AccessToken.objects.filter(token_checksum=_checksum(expired)).update(
        expires=AccessToken.objects.get(token_checksum=_checksum(expired)).created
    )
    for token in ("unknown", "a.b.c", tokens["access_token"], tokens["refresh_token"], expired):
        response = introspect(signed_in, app, secret, token)
        assert response.status_code == HTTPStatus.OK
        assert response.json() == INACTIVE, token


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- A36 userinfo bearer errors (RFC 6750) -------------------------------------------


@pytest.mark.spec("RFC 6750", "3")
def test_a36_userinfo_without_a_token_is_401_without_error_code(http):
    """A36: no token → 401, WWW-Authenticate: Bearer with no error code (RFC 6750 §3.1)."""
    response = http.get("/oauth/userinfo")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_a36_userinfo_with_an_invalid_token_is_invalid_token(http, token):
    """A36: an invalid token → 401 error="invalid_token" (RFC 6750 §3.1)."""
    response = userinfo(http, token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("holder", ["client_credentials", "user-without-openid"])
def test_a36_userinfo_needs_the_openid_scope_and_a_user(
    signed_in, first_party, service_client, holder
):
    """A36: a token without ``openid``, or with no user behind it (client_credentials) →
    403 error="insufficient_scope" (RFC 6750 §3.1; OIDC Core §5.3)."""
    if holder == "client_credentials":
        app, secret = service_client
        token = client_credentials(signed_in, app, secret)["access_token"]
    else:
        app, secret = first_party
        token = tokens_for(signed_in, app, secret, scope="profile")["access_token"]
    response = userinfo(signed_in, token)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert "sub" not in response.text


@pytest.mark.spec("RFC 9700", "4.3.2")
def test_a36_access_token_in_the_query_is_rejected(signed_in, first_party):
    """A36: ``?access_token=`` is refused, even with a valid token (RFC 9700 §4.3.2)."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    response = signed_in.get("/oauth/userinfo", params={"access_token": tokens["access_token"]})
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert "sub" not in response.text


# --- A37 metadata (RFC 8414) ---------------------------------------------------------


@pytest.mark.spec("RFC 8414", "2")
@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_a37_server_metadata(http, path):
    """A37: issuer is exact, endpoints live under it, and nothing unsafe is offered
    (RFC 8414 §2, §3.3; OIDC Discovery §3). A43: DPoP is not advertised (no support)."""
    metadata = http.get(path).json()
    issuer = authsite_settings.PUBLIC_URL
    assert metadata["issuer"] == issuer
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        assert metadata[name].startswith(issuer + "/")
    assert set(metadata["grant_types_supported"]).isdisjoint({"implicit", "password"})
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "none" not in metadata.get("id_token_signing_alg_values_supported", [])
    assert "dpop_signing_alg_values_supported" not in metadata


# --- A38 ID tokens -------------------------------------------------------------------


@pytest.mark.spec("OIDC Core", "3.1.3.7")
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a38_id_token_verifies_against_jwks(signed_in, algorithm):
    """A38: the ID token is signed with the client's algorithm by a key in JWKS and carries
    iss, aud, exp, iat, sub, nonce, at_hash and auth_time (with max_age)."""
    app, secret = make_client(name="RP", first_party=True)
    app.algorithm = algorithm
    app.save()
    tokens = tokens_for(signed_in, app, secret, nonce="n-789", max_age="600")
    header, claims = jwt_claims(signed_in, tokens["id_token"])
    assert header["alg"] == algorithm
    assert claims["iss"] == authsite_settings.PUBLIC_URL
    assert claims["aud"] in (app.client_id, [app.client_id])
    now = time.time()
    assert claims["iat"] <= now + 5 < claims["exp"]
    assert claims["sub"] and claims["sub"] != app.client_id
    assert claims["nonce"] == "n-789"
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= now + 5
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    half = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    assert claims["at_hash"] == half  # RS256 and ES256 both hash with SHA-256


# --- A40 registration hygiene --------------------------------------------------------


@pytest.mark.spec("RFC 9700", "2.1")
@pytest.mark.parametrize(
    "uri",
    [
        "http://rp.test/cb",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,x",
        "https://rp.test/cb#frag",
        "https://*.rp.test/cb",
    ],
)
def test_a40_unsafe_redirect_uris_cannot_be_registered(db, uri):
    """A40: http (non-loopback), script/data schemes, fragments and wildcards are refused
    (RFC 9700 §2.1, §4.1.3)."""
    with pytest.raises(ValidationError) as exc:
        register_client(name="x", public=False, redirect_uris=[uri])
    assert exc.value.message_dict["redirect_uris"]


# --- A41 clients cannot impersonate users --------------------------------------------


@pytest.mark.spec("RFC 9700", "4.15.1")
def test_a41_client_tokens_are_distinguishable_from_user_tokens(
    signed_in, user, first_party, service_client
):
    """A41: a client_credentials token has sub = client_id and no username; a user's sub is
    not a client_id; clients cannot choose their client_id (RFC 9700 §4.15.1)."""
    assert "client_id" not in inspect.signature(register_client).parameters
    app, secret = service_client
    token = client_credentials(signed_in, app, secret)["access_token"]
    rp, rp_secret = first_party
    info = introspect(signed_in, rp, rp_secret, token).json()
    assert info["active"] is True
    assert info["sub"] == app.client_id
    assert "username" not in info
    user_token = tokens_for(signed_in, rp, rp_secret)["access_token"]
    user_info = introspect(signed_in, rp, rp_secret, user_token).json()
    assert user_info["username"] == user.get_username()
    from oauth.models import Application

    assert not Application.objects.filter(client_id=user_info["sub"]).exists()


# --- A42 audience and privilege restriction ------------------------------------------


@pytest.mark.spec("RFC 9700", "2.3")
def test_a42_access_token_names_its_audience_and_granted_scope(signed_in, first_party):
    """A42: the JWT access token and its introspection carry aud, client_id and the granted
    scope only (RFC 9700 §2.3; RFC 9068 §2.2)."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret, scope="openid profile")
    header, claims = jwt_claims(signed_in, tokens["access_token"])
    assert header["typ"].lower() == "at+jwt"
    assert claims["aud"] in (app.client_id, [app.client_id])
    assert claims["client_id"] == app.client_id
    assert set(claims["scope"].split()) == {"openid", "profile"}
    info = introspect(signed_in, app, secret, tokens["access_token"]).json()
    assert info["aud"] in (app.client_id, [app.client_id])
    assert info["client_id"] == app.client_id
    assert set(info["scope"].split()) == {"openid", "profile"}
