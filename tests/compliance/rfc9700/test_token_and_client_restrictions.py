"""RFC 9700 for tokens and clients: no access token in the URI (§4.3.2), no unsafe redirect
URI at registration (§2.1), and client tokens that cannot pass for a user's (§4.15.1)."""

from __future__ import annotations

import inspect
from http import HTTPStatus

import pytest

from django.core.exceptions import ValidationError

from oauth.services import register_client
from tests.support.oauth import introspect, service_tokens, tokens_for

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 9700", "4.3.2")
def test_access_token_in_the_query_is_rejected(signed_in, first_party):
    """RFC 9700 §4.3.2: ``?access_token=`` is refused, even with a valid token."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    response = signed_in.get("/oauth/userinfo", params={"access_token": tokens["access_token"]})
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert "sub" not in response.text


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
def test_unsafe_redirect_uris_cannot_be_registered(db, uri):
    """RFC 9700 §2.1, §4.1.3: http (non-loopback), script/data schemes, fragments and wildcards are
    refused."""
    with pytest.raises(ValidationError) as exc:
        register_client(name="x", public=False, redirect_uris=[uri])
    assert exc.value.message_dict["redirect_uris"]


@pytest.mark.spec("RFC 9700", "4.15.1")
def test_client_tokens_are_distinguishable_from_user_tokens(
    signed_in, user, first_party, service_client
):
    """RFC 9700 §4.15.1: a client_credentials token has sub = client_id and no username; a user's
    sub is not a client_id; clients cannot choose their client_id."""
    assert "client_id" not in inspect.signature(register_client).parameters
    app, secret = service_client
    token = service_tokens(signed_in, app, secret)["access_token"]
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
