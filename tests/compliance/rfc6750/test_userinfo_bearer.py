"""RFC 6750 at the userinfo endpoint: where the access token may travel (§2), and the
error a client gets for each failure (§3), always JSON with a ``Bearer`` challenge."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest

from django.test import Client
from django.utils import timezone

from oauth.models import AccessToken
from tests.support.oauth import revoke, tokens_for
from tests.support.odd_tokens import SHAPES

pytestmark = pytest.mark.django_db

USERINFO = "/oauth/userinfo"


@pytest.fixture
def access_token(signed_in, first_party):
    """A live access token with ``openid``, presented by a resource client with no cookies."""
    app, secret = first_party
    token = tokens_for(signed_in, app, secret)["access_token"]
    signed_in.cookies.clear()  # a relying party's back end, not the user's browser
    return token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def challenge(response) -> str:
    return response.headers["www-authenticate"]


def assert_bearer_error(response, status: int, error: str) -> None:
    """An RFC 6750 §3 error as a client sees it: status, JSON body, matching challenge."""
    assert response.status_code == status, response.content[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert "sub" not in response.json()
    assert challenge(response).startswith('Bearer realm="authsite"')
    assert f'error="{error}"' in challenge(response)
    assert "no-store" in response.headers["cache-control"]


# --- §2: how the token travels ------------------------------------------------------


@pytest.mark.spec("RFC 6750", "2.1")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_token_in_the_authorization_header_is_accepted(signed_in, access_token, method):
    """RFC 6750 §2.1, OIDC Core §5.3.1: GET or POST with ``Authorization: Bearer``; the
    scheme name is case-insensitive (RFC 9110 §11.1)."""
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {access_token}"}
        response = signed_in.request(method, USERINFO, headers=headers)
        assert response.status_code == HTTPStatus.OK, response.text[:300]
        assert response.headers["content-type"] == "application/json"
        assert response.json()["sub"]


@pytest.mark.spec("RFC 6750", "2.2")
def test_token_in_a_form_encoded_post_body_is_accepted(signed_in, access_token):
    """RFC 6750 §2.2: ``access_token`` in an ``application/x-www-form-urlencoded`` POST body
    (no CSRF token asked: a bearer request carries no cookie)."""
    response = signed_in.post(USERINFO, data={"access_token": access_token})
    assert response.status_code == HTTPStatus.OK, response.text[:300]
    assert response.json()["sub"]


@pytest.mark.spec("RFC 6750", "2.2")
def test_token_in_a_body_that_is_not_form_encoded_is_invalid_request(signed_in, access_token):
    """RFC 6750 §2.2: the body method needs ``application/x-www-form-urlencoded``; a
    multipart body carrying the token is refused, not read."""
    response = signed_in.post(
        USERINFO, data={"access_token": access_token}, files={"f": ("f.txt", b"x")}
    )
    assert_bearer_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.spec("RFC 9700", "4.3.2")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_token_in_the_query_string_is_invalid_request(signed_in, access_token, method):
    """RFC 9700 §4.3.2, OAuth 2.1 §5.2: a token in the URI ends up in logs and Referer
    headers, so ``?access_token=`` is refused (400 invalid_request), even a valid one."""
    response = signed_in.request(method, USERINFO, params={"access_token": access_token})
    assert_bearer_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.spec("RFC 6750", "2")
@pytest.mark.parametrize(
    "places",
    ["header and body", "header and query", "body and query", "body twice", "body and empty"],
)
def test_token_in_more_than_one_place_is_invalid_request(signed_in, access_token, places):
    """RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
    request"; §3.1: that is invalid_request, 400, even when every copy is the same token
    (or the second is empty: a repeated parameter, as at the token endpoint)."""
    headers, params, body = {}, {}, None
    if "header" in places:
        headers = bearer(access_token)
    if "query" in places:
        params = {"access_token": access_token}
    if "body" in places:
        body = {"access_token": access_token}
    if places in ("body twice", "body and empty"):
        second = access_token if places == "body twice" else ""
        body = f"access_token={access_token}&access_token={second}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response = signed_in.post(USERINFO, content=body, headers=headers)
    else:
        response = signed_in.post(USERINFO, headers=headers, params=params, data=body)
    assert_bearer_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.spec("RFC 6750", "2.2")
def test_empty_access_token_in_the_body_is_no_token(signed_in, access_token):
    """RFC 6750 §2.2, OAuth 2.1 §3.2 (empty is omitted): ``access_token=`` beside the header
    is not a second token, and alone it is no credentials at all."""
    response = signed_in.post(USERINFO, headers=bearer(access_token), data={"access_token": ""})
    assert response.status_code == HTTPStatus.OK, response.text[:300]
    response = signed_in.post(USERINFO, data={"access_token": ""})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert challenge(response) == 'Bearer realm="authsite"'


# --- §3: errors ----------------------------------------------------------------------


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Digest username=x", "Token abc", "Bearerabc"],
    ids=["no header", "Basic", "Digest", "another scheme", "no space after Bearer"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_bearer_credentials_is_a_bare_challenge(http, authorization, method):
    """RFC 6750 §3.1: a request with no authentication information, or credentials of
    another scheme ("attempted using an unsupported authentication method"), gets 401 and
    ``WWW-Authenticate: Bearer realm="authsite"`` with no error code; the body is the
    empty JSON object (no error information, still JSON)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = http.request(method, USERINFO, headers=headers)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert challenge(response) == 'Bearer realm="authsite"'
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer  ", "Bearer a b", "Bearer a\tb"],
    ids=["no token", "no token, one space", "no token, spaces", "two tokens", "tab"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_malformed_bearer_header_is_invalid_request(http, authorization, method):
    """RFC 6750 §2.1, §3.1: ``Bearer`` with no token or with more than one is a malformed
    request: 400 invalid_request, not a token that failed."""
    response = http.request(method, USERINFO, headers={"Authorization": authorization})
    assert_bearer_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("where", ["header", "body"])
def test_invalid_token_of_any_shape_is_invalid_token(
    signed_in, first_party, shape, where, error_logs
):
    """RFC 6750 §3.1: a token that is not a live access token, whatever its length,
    characters or JWT-like forgery, is 401 invalid_token, with nothing logged as an error;
    in the header, what does not read as exactly one token after ``Bearer`` (only
    whitespace) is a malformed request, 400 invalid_request."""
    app, secret = first_party
    token = SHAPES[shape](tokens_for(signed_in, app, secret))
    signed_in.cookies.clear()
    expected = (HTTPStatus.UNAUTHORIZED, "invalid_token")
    if where == "header":
        if len(token.split()) != 1:
            expected = (HTTPStatus.BAD_REQUEST, "invalid_request")
        if token.isascii() and token.isprintable():
            response = signed_in.get(USERINFO, headers=bearer(token))
        else:
            # httpx's WSGI transport sends only printable ASCII headers; a WSGI server hands
            # the raw bytes over decoded as Latin-1 (PEP 3333), as Django's client can.
            raw = f"Bearer {token}".encode().decode("latin-1")
            response = Client().get(USERINFO, HTTP_AUTHORIZATION=raw)
    else:
        response = signed_in.post(USERINFO, data={"access_token": token})
    assert_bearer_error(response, *expected)
    assert error_logs == []


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("state", ["expired", "revoked", "user deactivated"])
def test_dead_token_is_invalid_token(signed_in, first_party, user, state):
    """RFC 6750 §3.1: an expired or revoked token, or one whose user was deactivated,
    is 401 invalid_token."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret)
    token = tokens["access_token"]
    if state == "expired":
        AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        assert revoke(signed_in, app, secret, token).status_code == HTTPStatus.OK
    else:
        user.is_active = False
        user.save()
    signed_in.cookies.clear()
    response = signed_in.get(USERINFO, headers=bearer(token))
    assert_bearer_error(response, HTTPStatus.UNAUTHORIZED, "invalid_token")


@pytest.mark.spec("RFC 6750", "3.1")
@pytest.mark.parametrize("where", ["header", "body"])
def test_token_without_openid_is_insufficient_scope(signed_in, first_party, where):
    """RFC 6750 §3.1, OIDC Core §5.3: a live token without ``openid`` is 403
    insufficient_scope, in JSON with the Bearer challenge, never an HTML 403."""
    app, secret = first_party
    token = tokens_for(signed_in, app, secret, scope="profile")["access_token"]
    signed_in.cookies.clear()
    if where == "header":
        response = signed_in.get(USERINFO, headers=bearer(token))
    else:
        response = signed_in.post(USERINFO, data={"access_token": token})
    assert_bearer_error(response, HTTPStatus.FORBIDDEN, "insufficient_scope")
    assert 'scope="openid"' in challenge(response)
