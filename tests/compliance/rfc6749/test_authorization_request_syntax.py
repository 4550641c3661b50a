"""RFC 6749 §3.1, §4.1.2.1, Appendix A; RFC 9110 §15.5.6: what the authorization endpoint
does with input it cannot serve.

- A control character (C0, DEL, C1) in any parameter is ``invalid_request``: sent to the
  client when client_id and redirect_uri are valid, the error page otherwise; never a
  500, never a consent page that cannot be submitted.
- Methods other than GET and POST are 405 with ``Allow``, signed in or not (the
  end-session endpoint's are in tests/compliance/oidc_rpinitiated/).
- Every ``error_description`` holds only the characters RFC 6749 §4.1.2.1 allows.
"""

from __future__ import annotations

import html
import json
import re
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from common.conf import authsite_settings
from oauth.models import Grant
from tests.support.oauth import (
    REDIRECT_URI,
    authorization_params,
    authorize,
    authorize_by_post,
    pkce_pair,
    redirect_query,
    sign_in,
)

pytestmark = pytest.mark.django_db

CONTROL_CHARACTERS = {
    "NUL": "\x00",
    "SOH": "\x01",
    "TAB": "\t",
    "LF": "\n",
    "CR": "\r",
    "ESC": "\x1b",
    "US": "\x1f",
    "DEL": "\x7f",
    "C1-NEL": "\x85",
}
# Parameters whose bad value still leaves a client and redirect URI to send the error to.
REDIRECTABLE = ["state", "nonce", "scope", "code_challenge", "response_type", "prompt", "claims"]
# RFC 6749 §4.1.2.1: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION_RE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


def request_url(app, challenge, **overrides) -> str:
    params = {
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid profile",
        "state": "s-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login consent",
        "claims": json.dumps({"id_token": {"email": None}}),
    }
    params.update(overrides)
    return "/oauth/authorize?" + urlencode(params)


def spoil(value: str, char: str) -> str:
    return value[:2] + char + value[2:]


def assert_invalid_request_redirect(response, *, state="s-123"):
    assert response.status_code == HTTPStatus.FOUND, response.text[:300]
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == state
    assert query["iss"] == authsite_settings.PUBLIC_URL
    assert "code" not in query
    assert not Grant.objects.exists()


def assert_error_page(response):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.text[:300]
    assert "location" not in response.headers
    assert "invalid_request" in response.text


# --- control characters ---------------------------------------------------------------


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("name", REDIRECTABLE)
def test_control_character_in_a_parameter_is_invalid_request_to_the_client(
    signed_in, confidential, name
):
    """RFC 6749 §4.1.2.1, Appendix A: any control character in state, nonce, scope, the PKCE
    challenge, response_type, prompt or claims → error=invalid_request at the client with
    state and iss, no code, and no consent page first (the third-party client would show one)."""
    app, _ = confidential
    _, challenge = pkce_pair()
    defaults = parse_qs(urlsplit(request_url(app, challenge)).query)
    for char in CONTROL_CHARACTERS.values():
        response = signed_in.get(
            request_url(app, challenge, **{name: spoil(defaults[name][0], char)})
        )
        state = spoil("s-123", char) if name == "state" else "s-123"
        assert_invalid_request_redirect(response, state=state)


@pytest.mark.spec("RFC 6749", "3.1")
def test_control_character_in_an_unknown_parameter_or_name_is_invalid_request(
    signed_in, first_party
):
    """RFC 6749 §3.1: unknown parameters are ignored, but not one that holds a control
    character, in its value or its name."""
    app, _ = first_party
    _, challenge = pkce_pair()
    for char in CONTROL_CHARACTERS.values():
        assert_invalid_request_redirect(
            signed_in.get(request_url(app, challenge, login_hint=spoil("alice", char)))
        )
        assert_invalid_request_redirect(
            signed_in.get(request_url(app, challenge, **{spoil("extra", char): "1"}))
        )


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_control_character_in_client_id_or_redirect_uri_is_an_error_page(
    signed_in, first_party, name
):
    """RFC 6749 §4.1.2.1: with no valid client or redirect URI there is nowhere safe to send
    the error: the 400 page, no redirect."""
    app, _ = first_party
    _, challenge = pkce_pair()
    value = app.client_id if name == "client_id" else REDIRECT_URI
    for char in CONTROL_CHARACTERS.values():
        for spoilt in (spoil(value, char), value + char):
            assert_error_page(signed_in.get(request_url(app, challenge, **{name: spoilt})))
    assert not Grant.objects.exists()


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("name", ["state", "nonce", "client_id"])
def test_nul_with_prompt_none_and_no_session_is_answered_not_a_500(http, first_party, name):
    """OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1: prompt=none with no session is checked at once;
    a NUL is invalid_request (error page for the client_id), never a server error."""
    app, _ = first_party
    _, challenge = pkce_pair()
    defaults = {"state": "s-123", "nonce": "n-456", "client_id": app.client_id}
    url = request_url(app, challenge, prompt="none", **{name: spoil(defaults[name], "\x00")})
    response = http.get(url)
    if name == "client_id":
        assert_error_page(response)
    else:
        state = spoil("s-123", "\x00") if name == "state" else "s-123"
        assert_invalid_request_redirect(response, state=state)


@pytest.mark.spec("RFC 9700", "4.11.2")
def test_nul_from_an_anonymous_browser_is_answered_after_sign_in(http, user, password, first_party):
    """RFC 9700 §4.11.2: an anonymous browser signs in first, as for any other error; back
    from the sign-in page the request is invalid_request at the client, not a 500 or a loop."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = http.get(request_url(app, challenge, prompt=None, nonce="n\x00x"))
    assert response.status_code == HTTPStatus.FOUND
    login = urlsplit(response.headers["location"])
    assert login.path == "/accounts/login/"
    (next_url,) = parse_qs(login.query)["next"]
    sign_in(http, user.username, password)
    assert_invalid_request_redirect(http.get(next_url))


@pytest.mark.spec("OIDC Core", "3.1.2.1")
@pytest.mark.parametrize("name", ["state", "nonce", "scope"])
def test_control_character_in_a_form_post_request_is_invalid_request(signed_in, first_party, name):
    """OIDC Core §3.1.2.1: the same for an authorization request sent by form POST."""
    app, _ = first_party
    _, challenge = pkce_pair()
    values = {"state": "s-123", "nonce": "n-456", "scope": "openid"}
    response = authorize_by_post(
        signed_in, app.client_id, challenge=challenge, **{name: spoil(values[name], "\x00")}
    )
    state = spoil("s-123", "\x00") if name == "state" else "s-123"
    assert_invalid_request_redirect(response, state=state)


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("name", ["state", "nonce", "scope", "claims"])
def test_control_character_in_a_submitted_consent_form_is_invalid_request(
    signed_in, confidential, name
):
    """RFC 6749 §4.1.2.1: a consent form coming back with a control character in a hidden
    field → invalid_request at the client, not the consent page again (no consent loop)."""
    app, _ = confidential
    _, challenge = pkce_pair()
    page = authorize(
        signed_in, app.client_id, challenge=challenge, claims='{"id_token": {"email": null}}'
    )
    assert page.status_code == HTTPStatus.OK
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    fields = {key: html.unescape(value) for key, value in fields}
    fields[name] = spoil(fields[name], "\x00")
    fields["allow"] = "Authorize"
    response = signed_in.post("/oauth/authorize", data=fields)
    state = spoil("s-123", "\x00") if name == "state" else "s-123"
    assert_invalid_request_redirect(response, state=state)


@pytest.mark.spec("RFC 6749", "3.1")
def test_consent_form_with_empty_fields_still_gets_a_code(signed_in, confidential):
    """RFC 6749 §3.1, OAuth 2.1 §3.1: a browser submits every hidden field of the consent
    form, the empty claims and nonce fields included: empty counts as omitted, so the code
    is issued."""
    app, _ = confidential
    _, challenge = pkce_pair()
    page = authorize(signed_in, app.client_id, challenge=challenge, nonce=None)
    fields = re.findall(r'<input type="hidden" name="([^"]+)"(?: value="([^"]*)")?', page.text)
    fields = {key: html.unescape(value) for key, value in fields}
    assert fields.get("claims") == "" and fields.get("nonce") == ""
    fields["allow"] = "Authorize"
    response = signed_in.post("/oauth/authorize", data=fields)
    assert "code" in redirect_query(response), redirect_query(response)


# --- methods ---------------------------------------------------------------------------


@pytest.mark.spec("RFC 9110", "15.5.6")
@pytest.mark.parametrize("session", ["anonymous", "signed-in"])
def test_other_methods_at_the_authorization_endpoint_are_405(
    http, user, password, first_party, session
):
    """RFC 9110 §15.5.6: GET and POST are the authorization endpoint's methods (OIDC Core
    §3.1.2.1); anything else → 405 with Allow: GET, POST, not a sign-in redirect, and no code
    (a HEAD served as a GET could issue one)."""
    if session == "signed-in":
        sign_in(http, user.username, password)
    app, _ = first_party
    _, challenge = pkce_pair()
    for method in ("PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO"):
        response = http.request(method, request_url(app, challenge, prompt=None))
        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED, method
        assert response.headers["allow"] == "GET, POST"
        assert "location" not in response.headers
    assert not Grant.objects.exists()


# --- error_description ------------------------------------------------------------------


def error_cases(app, challenge):
    """Authorization requests that each end in a different error redirect."""
    odd_claim = json.dumps({"id_token": {'q"u\\o\u00e9\u2028te': 1}})
    return {
        "unsupported_response_type": {"response_type": "token"},
        "invalid_scope": {"scope": "openid bogus"},
        "missing-challenge": {"code_challenge": None},
        "plain": {"code_challenge_method": "plain"},
        "claims-shape": {"claims": odd_claim},
        "claims-json": {"claims": '{"\u00e9'},
        "request_not_supported": {"request": "x.y.z"},
        "control-character": {"nonce": "a\x00b"},
        "prompt-none-and-login": {"prompt": "none login"},
        "consent_required": {"prompt": "none"},
    }


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("case", list(error_cases(None, None)), ids=list(error_cases(None, None)))
def test_error_description_uses_only_the_allowed_characters(signed_in, confidential, case):
    """RFC 6749 §4.1.2.1: error_description is %x20-21 / %x23-5B / %x5D-7E: no double quote,
    no backslash, nothing outside printable ASCII, whatever the error and its input."""
    app, _ = confidential
    _, challenge = pkce_pair()
    overrides = error_cases(app, challenge)[case]
    params = authorization_params(app.client_id, challenge=challenge, **overrides)
    url = "/oauth/authorize?" + urlencode(params)
    response = signed_in.get(url)
    assert response.status_code == HTTPStatus.FOUND, response.text[:300]
    query = redirect_query(response)
    assert query["error"]
    if "error_description" in query:
        assert DESCRIPTION_RE.fullmatch(query["error_description"]), query["error_description"]


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": 'no"such\\client\u00e9'},
        {"redirect_uri": 'https://evil.test/"\u00e9\\'},
        {"client_id": "x\x00y"},
    ],
    ids=["quoted-client", "quoted-redirect", "nul-client"],
)
def test_error_page_description_uses_only_the_allowed_characters(signed_in, first_party, overrides):
    """RFC 6749 §4.1.2.1: the error page's code and description, which a tester or script may
    read, keep to the same characters."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = signed_in.get(request_url(app, challenge, **overrides))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    alert = re.search(r'<p role="alert">(.*?)</p>', response.text, re.S).group(1)
    assert DESCRIPTION_RE.fullmatch(html.unescape(alert).strip()), alert
