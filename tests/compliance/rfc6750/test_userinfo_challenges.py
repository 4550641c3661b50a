"""RFC 6750 §3: the userinfo endpoint's WWW-Authenticate challenges for a missing, invalid
or insufficient bearer token."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import service_tokens, tokens_for, userinfo

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 6750", "3")
def test_userinfo_without_a_token_is_401_without_error_code(http):
    """RFC 6750 §3, §3.1: no token → 401, WWW-Authenticate: Bearer with no error code."""
    response = http.get("/oauth/userinfo")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_userinfo_with_an_invalid_token_is_invalid_token(http, token):
    """RFC 6750 §3.1: an invalid token → 401 error="invalid_token" (RFC 6750 §3.1)."""
    response = userinfo(http, token)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("holder", ["client_credentials", "user-without-openid"])
def test_userinfo_needs_the_openid_scope_and_a_user(signed_in, first_party, service_client, holder):
    """RFC 6750 §3.1, OIDC Core §5.3: a token without ``openid``, or with no user behind it
    (client_credentials) → 403 error="insufficient_scope"."""
    if holder == "client_credentials":
        app, secret = service_client
        token = service_tokens(signed_in, app, secret)["access_token"]
    else:
        app, secret = first_party
        token = tokens_for(signed_in, app, secret, scope="profile")["access_token"]
    response = userinfo(signed_in, token)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert "sub" not in response.text
