"""RFC 9068: access tokens are JWTs typed ``at+jwt`` that name their audience, their client
and the granted scope, as their introspection does (RFC 9700 §2.3)."""

from __future__ import annotations

import pytest

from tests.support.oauth import introspect, jwt_claims, tokens_for

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 9068", "2.2")
def test_access_token_names_its_audience_and_granted_scope(signed_in, first_party):
    """RFC 9068 §2.1, §2.2, RFC 9700 §2.3: the JWT access token and its introspection carry aud,
    client_id and the granted scope only (RFC 9700 §2.3; RFC 9068 §2.2)."""
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
