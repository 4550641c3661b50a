"""RFC 9207: the authorization response names its issuer (``iss``), on success and on
every error sent back to the client, and the metadata advertises it."""

from __future__ import annotations

import html
import re
from http import HTTPStatus

import pytest

from common.conf import authsite_settings
from tests.support.oauth import REDIRECT_URI, authorize, code_from, pkce_pair, redirect_query

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 9207", "2")
def test_unsupported_response_type_goes_back_with_state_and_iss(signed_in, first_party):
    """RFC 9207 §2, RFC 6749 §4.1.2.1: response_type=token → error redirect carrying the verbatim
    state and iss."""
    app, _ = first_party
    _, challenge = pkce_pair()
    state = "a b+c/d=&é%20~"
    response = authorize(
        signed_in, app.client_id, challenge=challenge, response_type="token", state=state
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == "unsupported_response_type"
    assert query["state"] == state
    assert query["iss"] == signed_in.get("/.well-known/openid-configuration").json()["issuer"]


@pytest.mark.spec("RFC 9207", "2")
def test_denied_consent_goes_back_as_access_denied_with_iss(signed_in, confidential):
    """RFC 9207 §2, RFC 6749 §4.1.2.1: the user pressing "deny" → error=access_denied with state and
    iss."""
    app, _ = confidential
    _, challenge = pkce_pair()
    page = authorize(signed_in, app.client_id, challenge=challenge, state="xyz")
    assert page.status_code == HTTPStatus.OK
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    response = signed_in.post("/oauth/authorize", data=fields)  # no "allow"
    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.SEE_OTHER)
    query = redirect_query(response)
    assert query["error"] == "access_denied"
    assert query["state"] == "xyz"
    assert query["iss"] == authsite_settings.PUBLIC_URL


@pytest.mark.spec("RFC 9207", "2")
def test_iss_on_success_and_error_and_advertised(signed_in, first_party):
    """RFC 9207 §2, §3: iss equals the metadata issuer on success and error redirects, and is
    advertised."""
    app, _ = first_party
    metadata = signed_in.get("/.well-known/oauth-authorization-server").json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    _, challenge = pkce_pair()
    success = authorize(signed_in, app.client_id, challenge=challenge)
    code_from(success)
    error = authorize(signed_in, app.client_id, challenge=challenge, scope="bogus")
    assert redirect_query(error)["error"] == "invalid_scope"
    for response in (success, error):
        assert redirect_query(response)["iss"] == metadata["issuer"]
