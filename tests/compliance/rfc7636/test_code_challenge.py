"""RFC 7636 §4.1–4.3: the code challenge an authorization request carries.

A challenge is 43 to 128 characters of the unreserved set, made with
``S256``; anything else is an ``invalid_request`` error redirect carrying
``state`` and ``iss``, and no code is issued.
"""

from __future__ import annotations

import string
from http import HTTPStatus

import pytest

from common.conf import authsite_settings
from oauth.models import Grant
from tests.support.oauth import (
    REDIRECT_URI,
    authorize,
    authorize_by_post,
    code_from,
    pkce_pair,
    redirect_query,
)

pytestmark = pytest.mark.django_db

UNRESERVED = string.ascii_letters + string.digits + "-._~"


def assert_invalid_request_without_code(response):
    assert response.status_code == HTTPStatus.FOUND, response.text[:300]
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL
    assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.spec("RFC 7636", "4.2")
@pytest.mark.parametrize(
    "challenge",
    [
        "a" * 42,
        "a" * 129,
        "a" * 1000,
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + "!",
        "a" * 42 + "%",
        "a" * 21 + " " + "a" * 21,
        "a" * 42 + "é",
        "a" * 42 + "\u00a0",
    ],
    ids=[
        "42-chars",
        "129-chars",
        "1000-chars",
        "plus",
        "slash",
        "equals",
        "bang",
        "percent",
        "space",
        "non-ascii",
        "nbsp",
    ],
)
def test_malformed_code_challenge_is_invalid_request(signed_in, first_party, challenge):
    """RFC 7636 §4.2: code_challenge is 43*128 unreserved characters; any other length or
    character → error=invalid_request with state and iss, no code (§4.4.1)."""
    app, _ = first_party
    response = authorize(signed_in, app.client_id, challenge=challenge)
    assert_invalid_request_without_code(response)


@pytest.mark.spec("RFC 7636", "4.3")
@pytest.mark.parametrize("method", ["plain", "S512", "s256", "S256 ", "RS256", None])
def test_code_challenge_method_other_than_s256_is_invalid_request(signed_in, first_party, method):
    """RFC 7636 §4.3, RFC 9700 §2.1.1: only S256; plain (also the default when the method is
    omitted) and unknown methods → error=invalid_request, no code, before any consent page."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(
        signed_in, app.client_id, challenge=challenge, code_challenge_method=method
    )
    assert_invalid_request_without_code(response)


@pytest.mark.spec("RFC 7636", "4.3")
def test_plain_method_is_refused_before_the_consent_page(signed_in, confidential):
    """RFC 7636 §4.3: a third-party client's request with plain is refused at once, not after
    the user has been asked to consent."""
    app, _ = confidential
    response = authorize(
        signed_in, app.client_id, challenge="a" * 43, code_challenge_method="plain"
    )
    assert_invalid_request_without_code(response)


@pytest.mark.spec("RFC 7636", "4.2")
@pytest.mark.parametrize(
    "challenge",
    [UNRESERVED[:43], (UNRESERVED * 2)[:128], pkce_pair()[1]],
    ids=["43-chars", "128-chars", "real-s256"],
)
def test_well_formed_code_challenge_gets_a_code(signed_in, first_party, challenge):
    """RFC 7636 §4.2: 43 and 128 characters of the whole unreserved set are accepted."""
    app, _ = first_party
    response = authorize(signed_in, app.client_id, challenge=challenge)
    code_from(response)
    assert Grant.objects.get().code_challenge == challenge


@pytest.mark.spec("RFC 7636", "4.2")
def test_malformed_code_challenge_by_form_post_is_invalid_request(signed_in, first_party):
    """RFC 7636 §4.2, OIDC Core §3.1.2.1: the same check applies to a POSTed request."""
    app, _ = first_party
    response = authorize_by_post(signed_in, app.client_id, challenge="short")
    assert_invalid_request_without_code(response)


@pytest.mark.spec("RFC 6749", "4.1.2.1")
def test_malformed_code_challenge_with_an_unknown_client_is_an_error_page(signed_in):
    """RFC 6749 §4.1.2.1: with no valid client the error is shown, never redirected."""
    response = authorize(signed_in, "no-such-client", challenge="short")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "location" not in response.headers
    assert "invalid_request" in response.text
