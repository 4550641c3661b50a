"""OIDC RP-Initiated Logout 1.0: the end-session endpoint's methods, its CSRF check, and
where it sends the browser afterwards."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.oauth import authorize, make_client, pkce_pair, tokens_for

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC RP-Initiated Logout", "3")
def test_logout_with_id_token_hint_redirects_to_the_registered_uri_with_state(signed_in):
    """OIDC RP-Initiated Logout §2, §3: a registered post_logout_redirect_uri is followed
    with state echoed, and the session is over."""
    app, secret = make_client(
        name="Logout RP",
        first_party=True,
        post_logout_redirect_uris=["https://rp.test/logged-out"],
    )
    tokens = tokens_for(signed_in, app, secret, scope="openid")
    response = signed_in.get(
        "/oauth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.test/logged-out",
            "state": "bye-1",
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.netloc == "rp.test" and location.path == "/logged-out"
    assert parse_qs(location.query)["state"] == ["bye-1"]
    # The session is over: authorizing again sends the browser to the login page.
    verifier, challenge = pkce_pair()
    again = authorize(signed_in, app.client_id, challenge=challenge)
    assert again.status_code == 302
    assert again.headers["location"].startswith("/accounts/login/")


@pytest.mark.spec("OIDC RP-Initiated Logout", "3")
def test_logout_never_redirects_to_an_unregistered_uri(signed_in):
    """OIDC RP-Initiated Logout §3: a post_logout_redirect_uri the client did not register
    gets a 400 page, never a redirect."""
    app, secret = make_client(
        name="Logout RP", first_party=True, post_logout_redirect_uris=["https://rp.test/bye"]
    )
    tokens = tokens_for(signed_in, app, secret, scope="openid")
    response = signed_in.get(
        "/oauth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.test/bye",
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.spec("OIDC RP-Initiated Logout", "2")
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"])
def test_other_methods_at_the_logout_endpoint_are_405(http, method):
    """OIDC RP-Initiated Logout §2, RFC 9110 §15.5.6: the end-session endpoint takes GET and
    POST; anything else → 405 with Allow, not a CSRF 403 or a redirect."""
    response = http.request(method, "/oauth/logout")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.headers["allow"] == "GET, POST"
    assert "location" not in response.headers


@pytest.mark.spec("OIDC RP-Initiated Logout", "2")
def test_logout_post_still_needs_its_csrf_token(signed_in):
    """OIDC RP-Initiated Logout §2, RFC 9700 §4.7: the logout confirmation POST keeps its
    CSRF check."""
    response = signed_in.post("/oauth/logout", data={"allow": "Logout"})
    assert response.status_code == HTTPStatus.FORBIDDEN
