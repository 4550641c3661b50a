"""Access tokens are signed with AUTHSITE_ACCESS_TOKEN_ALGORITHM (ES256 unless set to RS256);
ID tokens keep their client's algorithm; tokens signed before a change keep working; signing
and verifying use the per-process key memo (no database read, no key parsing per token)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from jwcrypto import jwk, jwt

from django.core.checks import run_checks

from common.conf import authsite_settings
from oauth import keys, tokens
from oauth.models import AccessToken
from tests.support.oauth import active, introspect, revoke, tokens_for, userinfo

pytestmark = pytest.mark.django_db


def header_of(token: str) -> dict:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verified_by_the_jwks(http, token: str) -> dict:
    """Verify as a resource server would: another JOSE library, the published JWKS."""
    keyset = jwk.JWKSet.from_json(http.get("/.well-known/jwks.json").text)
    return json.loads(jwt.JWT(jwt=token, key=keyset, algs=["RS256", "ES256"]).claims)


def client_credentials_token(http, app, secret) -> str:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, secret)
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_access_tokens_are_es256_by_default_and_name_the_active_key(http, service_client):
    app, secret = service_client
    token = client_credentials_token(http, app, secret)

    assert header_of(token) == {
        "typ": "at+jwt",
        "alg": "ES256",
        "kid": keys.get_signing_key("ES256").kid,
    }
    assert verified_by_the_jwks(http, token)["client_id"] == app.client_id
    assert active(http, app, secret, token)


def test_rs256_when_configured(http, service_client, settings):
    settings.AUTHSITE_ACCESS_TOKEN_ALGORITHM = "RS256"
    app, secret = service_client
    token = client_credentials_token(http, app, secret)

    assert tokens.access_token_algorithm() == "RS256"
    assert header_of(token)["alg"] == "RS256"
    assert header_of(token)["kid"] == keys.get_signing_key("RS256").kid
    assert verified_by_the_jwks(http, token)["sub"] == app.client_id
    assert active(http, app, secret, token)


def test_id_tokens_keep_the_clients_algorithm(signed_in, first_party):
    """OIDC's RS256 default for ID tokens stays, whatever signs the access tokens."""
    app, secret = first_party
    issued = tokens_for(signed_in, app, secret)

    assert header_of(issued["id_token"])["alg"] == "RS256"
    assert header_of(issued["access_token"])["alg"] == "ES256"
    assert verified_by_the_jwks(signed_in, issued["id_token"])["aud"] == app.client_id


def test_tokens_signed_with_rs256_keep_working_after_the_switch_to_es256(
    signed_in, first_party, settings, django_capture_on_commit_callbacks
):
    settings.AUTHSITE_ACCESS_TOKEN_ALGORITHM = "RS256"
    app, secret = first_party
    before = tokens_for(signed_in, app, secret)["access_token"]
    assert header_of(before)["alg"] == "RS256"

    settings.AUTHSITE_ACCESS_TOKEN_ALGORITHM = "ES256"
    after = tokens_for(signed_in, app, secret)["access_token"]

    assert header_of(after)["alg"] == "ES256"
    for token in (before, after):
        assert introspect(signed_in, app, secret, token).json()["active"] is True
        assert userinfo(signed_in, token).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke(signed_in, app, secret, before).status_code == 200
    assert introspect(signed_in, app, secret, before).json() == {"active": False}
    assert userinfo(signed_in, before).status_code == 401


def sign_as_before(claims: dict) -> str:
    """How oauth.tokens signed access tokens before ES256 (jwcrypto, RS256, spaced JSON)."""
    key = keys.get_signing_key("RS256")
    token = jwt.JWT(
        header=json.dumps({"typ": "at+jwt", "alg": key.algorithm, "kid": key.kid}),
        claims=json.dumps(claims),
    )
    token.make_signed_token(key.jwk)
    return token.serialize()


def test_a_token_minted_by_the_previous_code_still_introspects_until_it_expires(
    http, service_client
):
    app, secret = service_client
    now = int(time.time())
    jti = uuid.uuid4()
    claims = {
        "iss": tokens.issuer(),
        "sub": app.client_id,
        "aud": app.client_id,
        "client_id": app.client_id,
        "jti": str(jti),
        "iat": now,
        "exp": now + 600,
    }
    old = sign_as_before(claims)
    AccessToken.objects.create(
        token=old, jti=jti, application=app, expires=datetime.fromtimestamp(now + 600, UTC)
    )

    assert keys.verify_jwt(old, expected_typ="at+jwt")["jti"] == str(jti)
    answer = introspect(http, app, secret, old).json()
    assert answer["active"] is True and answer["jti"] == str(jti)


def test_signing_and_verifying_read_no_database_and_parse_no_key(
    django_assert_num_queries, monkeypatch
):
    for algorithm in keys.SUPPORTED_ALGORITHMS:  # the first use fills the memo
        keys.verify_jwt(tokens.sign({"exp": time.time() + 60}, typ="at+jwt", algorithm=algorithm))

    def no_parsing(*args, **kwargs):
        raise AssertionError("a key was parsed on the request path")

    monkeypatch.setattr(keys.JWK, "from_json", no_parsing)
    monkeypatch.setattr(keys.RSAKey, "import_key", no_parsing)
    monkeypatch.setattr(keys.ECKey, "import_key", no_parsing)
    with django_assert_num_queries(0):
        for algorithm in keys.SUPPORTED_ALGORITHMS:
            token = tokens.sign(
                {"sub": "x", "exp": time.time() + 60}, typ="at+jwt", algorithm=algorithm
            )
            assert keys.verify_jwt(token, expected_typ="at+jwt")["sub"] == "x"


def test_made_up_kids_do_not_reload_the_keys_on_every_request(monkeypatch):
    key = keys.get_signing_key("ES256")
    keys.verify_jwt(tokens.sign({"exp": time.time() + 60}, typ="at+jwt", algorithm="ES256"))
    loads = []
    monkeypatch.setattr(
        keys, "public_jwks", lambda real=keys.public_jwks: loads.append(1) or real()
    )

    for _ in range(20):
        forged = tokens.sign({"exp": time.time() + 60}, typ="at+jwt", algorithm="ES256")
        header, rest = forged.split(".", 1)
        made_up = {"typ": "at+jwt", "alg": "ES256", "kid": f"{key.kid}-{uuid.uuid4()}"}
        forged = tokens._b64json(made_up) + "." + rest
        with pytest.raises(keys.InvalidJWT, match="unknown kid"):
            keys.verify_jwt(forged)

    assert len(loads) <= 1


def test_a_key_published_by_another_process_a_moment_ago_is_found():
    """Another worker may sign with a key this one has not reloaded yet: an unknown kid
    reloads the published keys (at most once a second) before the token is refused."""
    token = tokens.sign({"sub": "x", "exp": time.time() + 60}, typ="at+jwt", algorithm="ES256")
    keys._memo[keys._VERIFIERS] = (time.monotonic() + 60, {})  # a memo from before that key
    keys._verifiers_loaded["at"] = float("-inf")

    assert keys.verify_jwt(token)["sub"] == "x"


@pytest.mark.parametrize("value", ["HS256", "none", "PS256"])
def test_an_unsupported_algorithm_is_a_system_check_error_and_es256_signs(settings, value):
    settings.AUTHSITE_ACCESS_TOKEN_ALGORITHM = value

    errors = [e for e in run_checks() if e.id == "authsite.E007"]
    assert len(errors) == 1 and value in errors[0].msg
    assert authsite_settings.ACCESS_TOKEN_ALGORITHM == "ES256"
    token = tokens.sign({"exp": time.time() + 60}, typ="at+jwt")
    assert header_of(token)["alg"] == "ES256"


def test_the_algorithm_setting_is_case_insensitive(settings):
    settings.AUTHSITE_ACCESS_TOKEN_ALGORITHM = " rs256 "

    assert not [e for e in run_checks() if e.id == "authsite.E007"]
    assert tokens.access_token_algorithm() == "RS256"
