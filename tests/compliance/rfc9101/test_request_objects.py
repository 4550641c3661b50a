"""RFC 9101 and OIDC Core §6: request objects are not supported, and say so.

A request carrying ``request`` or ``request_uri`` is refused with the OIDC
error code for it (OIDC Core §3.1.2.6) rather than served with the request
object silently ignored; discovery advertises neither.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest

from common.conf import authsite_settings
from oauth.models import Grant
from tests.support.oauth import (
    REDIRECT_URI,
    authorize,
    authorize_by_post,
    pkce_pair,
    redirect_query,
)

pytestmark = pytest.mark.django_db

REQUEST_OBJECT = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."


@pytest.mark.spec("OIDC Core", "6.1")
@pytest.mark.parametrize(
    "extra, error",
    [
        ({"request": REQUEST_OBJECT}, "request_not_supported"),
        ({"request_uri": "https://rp.test/request.jwt"}, "request_uri_not_supported"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "request_uri_not_supported"),
    ],
    ids=["request", "request_uri", "par-style-request_uri"],
)
@pytest.mark.parametrize("client", ["first_party", "confidential"])
@pytest.mark.parametrize("send", [authorize, authorize_by_post], ids=["get", "post"])
def test_request_objects_are_refused_with_their_error_code(
    request, signed_in, client, extra, error, send
):
    """OIDC Core §6.1, §6.2, §3.1.2.6; RFC 9101 §5: request / request_uri →
    error=request_not_supported / request_uri_not_supported with state and iss, no code,
    and no consent page first."""
    app, _ = request.getfixturevalue(client)
    _, challenge = pkce_pair()
    response = send(signed_in, app.client_id, challenge=challenge, **extra)
    assert response.status_code == HTTPStatus.FOUND, response.text[:300]
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == error
    assert query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL
    assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.spec("OIDC Core", "6.1")
def test_request_object_with_prompt_none_is_refused(signed_in, first_party):
    """OIDC Core §6.1: prompt=none does not make a request object acceptable."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(
        signed_in, app.client_id, challenge=challenge, prompt="none", request=REQUEST_OBJECT
    )
    assert redirect_query(response)["error"] == "request_not_supported"
    assert not Grant.objects.exists()


@pytest.mark.spec("RFC 6749", "4.1.2.1")
def test_request_object_for_an_unregistered_redirect_uri_is_an_error_page(signed_in, first_party):
    """RFC 6749 §4.1.2.1: the error never goes to a redirect URI the client did not register."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(
        signed_in,
        app.client_id,
        challenge=challenge,
        request=REQUEST_OBJECT,
        redirect_uri="https://evil.test/cb",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "location" not in response.headers
    assert "request_not_supported" in response.text


@pytest.mark.spec("OIDC Discovery", "3")
@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_says_request_objects_are_not_supported(http, path):
    """OIDC Discovery §3: request_parameter_supported and request_uri_parameter_supported are
    false (their defaults would claim request_uri support); no PAR endpoint is advertised."""
    metadata = http.get(path).json()
    if path.endswith("openid-configuration"):
        assert metadata["request_parameter_supported"] is False
        assert metadata["request_uri_parameter_supported"] is False
    assert "pushed_authorization_request_endpoint" not in metadata
    assert "request_object_signing_alg_values_supported" not in metadata
