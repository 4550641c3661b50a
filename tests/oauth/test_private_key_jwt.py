"""private_key_jwt client authentication (RFC 7523 §2.2, §3; OIDC Core §9)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from jwcrypto import jwk, jwt

from common.conf import authsite_settings
from tests.support.oauth import make_client

pytestmark = pytest.mark.django_db

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def signer():
    return jwk.JWK.generate(kty="EC", crv="P-256", kid="rp-key-1")


@pytest.fixture
def jwt_client(db, signer):
    app, _ = make_client(name="JWT client", grant_types=["client_credentials"], redirect_uris=[])
    app.token_endpoint_auth_method = app.AUTH_PRIVATE_KEY_JWT
    app.jwks = {"keys": [json.loads(signer.export_public())]}
    app.save()
    return app


def assertion(signer, client_id, *, aud=None, exp_in=60, jti=None, iss=None) -> str:
    now = int(time.time())
    claims = {
        "iss": iss or client_id,
        "sub": client_id,
        "aud": aud or f"{authsite_settings.PUBLIC_URL}/oauth/token",
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or str(uuid.uuid4()),
    }
    token = jwt.JWT(header={"alg": "ES256", "kid": signer.kid}, claims=claims)
    token.make_signed_token(signer)
    return token.serialize()


def request_token(http, client_id, client_assertion):
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion,
        },
    )


def test_a_signed_assertion_authenticates_the_client(http, jwt_client, signer):
    response = request_token(http, jwt_client.client_id, assertion(signer, jwt_client.client_id))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_an_assertion_works_once(http, jwt_client, signer):
    """RFC 7523 §3 item 7: the jti is single-use."""
    once = assertion(signer, jwt_client.client_id)
    assert request_token(http, jwt_client.client_id, once).status_code == 200
    replay = request_token(http, jwt_client.client_id, once)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aud": "https://someone-else.test/token"},
        {"exp_in": -10},
        {"exp_in": 7200},
        {"iss": "another-client"},
    ],
    ids=["wrong-audience", "expired", "lives-too-long", "wrong-issuer"],
)
def test_bad_assertions_are_invalid_client(http, jwt_client, signer, kwargs):
    response = request_token(
        http, jwt_client.client_id, assertion(signer, jwt_client.client_id, **kwargs)
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


def test_an_assertion_signed_by_an_unregistered_key_is_refused(http, jwt_client):
    stranger = jwk.JWK.generate(kty="EC", crv="P-256", kid="rp-key-1")
    response = request_token(http, jwt_client.client_id, assertion(stranger, jwt_client.client_id))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_jwt_client_cannot_fall_back_to_a_secret(http, jwt_client):
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(jwt_client.client_id, "anything"),
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
