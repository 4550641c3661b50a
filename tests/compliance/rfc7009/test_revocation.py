"""RFC 7009 token revocation: client authentication, any token answers 200, only the
caller's own tokens are revoked, and revocation takes effect at once."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import introspect, make_client, refresh, revoke, tokens_for, userinfo

pytestmark = pytest.mark.django_db


INACTIVE = {"active": False}


@pytest.mark.spec("RFC 7009", "2.1")
def test_revocation_requires_client_authentication(http, first_party):
    """RFC 7009 §2.1: no or wrong client credentials → 401 invalid_client."""
    app, _ = first_party
    for response in (
        http.post("/oauth/revoke", data={"token": "x"}),
        revoke(http, app, "wrong", "x"),
    ):
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"
        assert "www-authenticate" in response.headers


@pytest.mark.spec("RFC 7009", "2.2")
def test_unknown_token_answers_200(http, first_party):
    """RFC 7009 §2.2: an unknown or garbage token → 200."""
    app, secret = first_party
    assert revoke(http, app, secret, "garbage").status_code == HTTPStatus.OK
    assert revoke(http, app, secret, "a.b.c").status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 7009", "2.1")
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_another_clients_token_is_not_revoked(signed_in, first_party, kind):
    """RFC 7009 §2.1: revoking another client's token answers 200 and revokes nothing (DOT #727)."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    tokens = tokens_for(signed_in, app, secret)
    assert revoke(signed_in, other, other_secret, tokens[kind]).status_code == HTTPStatus.OK
    assert introspect(signed_in, app, secret, tokens["access_token"]).json()["active"] is True
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 7009", "2.1")
def test_revoking_a_refresh_token_revokes_its_access_tokens(signed_in, first_party):
    """RFC 7009 §2.1: revoking a refresh token revokes the access tokens of its grant."""
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
def test_revoking_an_access_token_takes_effect_immediately(signed_in, first_party):
    """RFC 7009 §2.1, §2.2: a revoked access token is refused at userinfo and by introspection at
    once."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    assert revoke(signed_in, app, secret, tokens["access_token"]).status_code == HTTPStatus.OK
    assert introspect(signed_in, app, secret, tokens["access_token"]).json() == INACTIVE
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.UNAUTHORIZED
