"""OIDC Core §3.1.2.1: the authorization request may be sent by form POST, and is then
handled exactly as the same request sent by GET."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest

from common.conf import authsite_settings
from tests.support.oauth import (
    REDIRECT_URI,
    approve,
    assert_error_page,
    assert_login_redirect,
    authorize_by_post,
    code_from,
    exchange,
    pkce_pair,
    redirect_query,
    sign_in,
)

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_authorization_request_by_form_post_succeeds_like_the_get(signed_in, first_party):
    """OIDC Core §3.1.2.1: the same authorization request sent as a cross-site form POST succeeds
    like the GET (OAuth 2.1 §3.1; OIDF oidcc-ensure-post-request-succeeds)."""
    app, secret = first_party
    verifier, challenge = pkce_pair()
    response = authorize_by_post(signed_in, app.client_id, challenge=challenge)
    code = code_from(response)
    assert redirect_query(response)["state"] == "s-123"
    assert redirect_query(response)["iss"] == authsite_settings.PUBLIC_URL
    assert exchange(signed_in, app, secret, code, verifier).status_code == HTTPStatus.OK


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_anonymous_form_post_goes_to_login_and_comes_back_by_get(http, user, password, first_party):
    """OIDC Core §3.1.2.1: an anonymous POST is sent to the login page with the request as a GET URL
    in ``next``, so that after sign-in the browser comes back by GET and gets its code."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize_by_post(http, app.client_id, challenge=challenge)
    assert_login_redirect(response)
    (next_url,) = parse_qs(urlsplit(response.headers["location"]).query)["next"]
    target = urlsplit(next_url)
    assert target.path == "/oauth/authorize"
    assert parse_qs(target.query)["code_challenge"] == [challenge]
    assert parse_qs(target.query)["state"] == ["s-123"]
    sign_in(http, user.username, password)
    response = http.get(next_url)
    code_from(response)
    assert redirect_query(response)["state"] == "s-123"


@pytest.mark.spec("OIDC Core", "3.1.2.1")
@pytest.mark.parametrize("bad", ["redirect_uri", "client_id"])
def test_form_post_with_a_bad_client_or_redirect_uri_is_an_error_page(signed_in, confidential, bad):
    """OIDC Core §3.1.2.1, RFC 6749 §4.1.2.1: a POSTed request for an unknown client or redirect URI
    → 400 page, no redirect, as for the GET."""
    app, _ = confidential
    _, challenge = pkce_pair()
    client_id = "no-such-client" if bad == "client_id" else app.client_id
    redirect_uri = "https://evil.test/cb" if bad == "redirect_uri" else REDIRECT_URI
    response = authorize_by_post(
        signed_in, client_id, challenge=challenge, redirect_uri=redirect_uri
    )
    assert_error_page(response)


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_form_post_asks_for_consent_and_then_remembers_it(signed_in, confidential):
    """OIDC Core §3.1.2.1: a third-party client's POSTed request shows the consent page; once
    approved, the next POST gets a code without asking again."""
    app, _ = confidential
    _, challenge = pkce_pair()
    page = authorize_by_post(signed_in, app.client_id, challenge=challenge)
    assert page.status_code == HTTPStatus.OK
    assert 'name="allow"' in page.text
    response = approve(signed_in, page)
    code_from(response)
    assert redirect_query(response)["iss"] == authsite_settings.PUBLIC_URL
    _, challenge = pkce_pair()
    code_from(authorize_by_post(signed_in, app.client_id, challenge=challenge))
