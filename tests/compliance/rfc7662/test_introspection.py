"""RFC 7662 token introspection: only confidential clients may ask, and an inactive token
of any kind is exactly ``{"active": false}``."""

from __future__ import annotations

import hashlib
from http import HTTPStatus

import pytest

from tests.support.oauth import introspect, revoke, tokens_for

pytestmark = pytest.mark.django_db


INACTIVE = {"active": False}


@pytest.mark.spec("RFC 7662", "2.1")
def test_introspection_requires_a_confidential_client(signed_in, first_party, public_client):
    """RFC 7662 §2.1, §4: no credentials, a wrong secret or a public client → 401 with
    WWW-Authenticate."""
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
def test_inactive_tokens_are_exactly_active_false(signed_in, first_party):
    """RFC 7662 §2.2: unknown, malformed, revoked or expired tokens → exactly {"active": false}."""
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
