"""RFC 6749 §3.1 request parameters at the authorization endpoint, by GET and by form POST:
unknown parameters are ignored, repeated ones refused, empty ones count as omitted
(OAuth 2.1 §3.1)."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

import pytest

from tests.support.oauth import (
    assert_error_page,
    authorization_params,
    authorize,
    authorize_by_post,
    code_for,
    exchange,
    pkce_pair,
    redirect_query,
)

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 6749", "3.1")
def test_unknown_parameters_are_ignored(signed_in, first_party):
    """RFC 6749 §3.1: an unrecognised parameter does not break the flow (OAuth 2.1 §3.1)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app, extra="foobar")
    response = exchange(signed_in, app, secret, code, verifier, extra="foobar")
    assert response.status_code == HTTPStatus.OK, response.text


@pytest.mark.spec("RFC 6749", "3.1")
@pytest.mark.parametrize(
    "name", ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge"]
)
def test_repeated_authorization_parameter_is_an_error_page(signed_in, first_party, name):
    """RFC 6749 §3.1: a repeated authorization parameter → 400 page, no redirect."""
    app, _ = first_party
    _, challenge = pkce_pair()
    params = list(authorization_params(app.client_id, challenge=challenge).items())
    params.append((name, dict(params)[name]))
    assert_error_page(signed_in.get("/oauth/authorize?" + urlencode(params)))


@pytest.mark.spec("RFC 6749", "3.1")
def test_empty_code_challenge_counts_as_missing(signed_in, first_party):
    """RFC 6749 §3.1: ``code_challenge=`` is treated as omitted → error=invalid_request (OAuth 2.1
    §3.1)."""
    app, _ = first_party
    response = authorize(signed_in, app.client_id, challenge="")
    assert response.status_code == HTTPStatus.FOUND
    assert redirect_query(response)["error"] == "invalid_request"


@pytest.mark.spec("RFC 6749", "3.1")
def test_empty_scope_means_the_default_scopes(signed_in, first_party):
    """RFC 6749 §3.1, §3.3: ``scope=`` is treated as omitted → the default scope (openid) is
    granted."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app, scope="")
    response = exchange(signed_in, app, secret, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["scope"] == "openid"


@pytest.mark.spec("RFC 6749", "3.1")
@pytest.mark.parametrize("where", ["body", "query and body"])
def test_repeated_parameter_in_a_form_post_is_an_error_page(signed_in, first_party, where):
    """RFC 6749 §3.1: a parameter repeated in the POST body, or in both the URL and the body,
    → 400 page, no redirect."""
    app, _ = first_party
    _, challenge = pkce_pair()
    body = list(authorization_params(app.client_id, challenge=challenge).items())
    url = "/oauth/authorize"
    if where == "body":
        body.append(("state", "t"))
    else:
        url += "?" + urlencode({"state": "t"})
    response = signed_in.post(
        url, content=urlencode(body), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error_page(response)


@pytest.mark.spec("RFC 6749", "3.1")
def test_empty_parameter_in_a_form_post_counts_as_missing(signed_in, first_party):
    """RFC 6749 §3.1: ``code_challenge=`` in the body is a missing challenge → invalid_request."""
    app, _ = first_party
    response = authorize_by_post(signed_in, app.client_id, challenge="")
    assert response.status_code == HTTPStatus.FOUND
    assert redirect_query(response)["error"] == "invalid_request"
    assert "code" not in redirect_query(response)
