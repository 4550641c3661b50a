"""OIDC Core §2, §3.1.3.7: ID tokens are signed by a published key with the client's
algorithm and carry the required claims."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from common.conf import authsite_settings
from tests.support.oauth import jwt_claims, make_client, tokens_for

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC Core", "3.1.3.7")
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_id_token_verifies_against_jwks_and_carries_the_required_claims(signed_in, algorithm):
    """OIDC Core §2, §3.1.3.7: the ID token is signed with the client's algorithm by a key in JWKS
    and carries iss, aud, exp, iat, sub, nonce, at_hash and auth_time (with max_age)."""
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
