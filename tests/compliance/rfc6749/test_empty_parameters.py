"""An empty parameter counts as a missing one (OAuth 2.1 §3.1, §3.2; RFC 6749 §3.1):
``code=`` at the token endpoint is a missing code, not a wrong one, so a client
library sees the error it expects for the missing parameter, and an empty
optional parameter (``scope=``, ``client_id=`` next to Basic credentials,
``token_type_hint=``) is simply not there."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import (
    REDIRECT_URI,
    code_for,
    introspect,
    make_client,
    revoke,
    tokens_for,
)

pytestmark = pytest.mark.django_db

OTHER_REDIRECT_URI = "https://rp.test/other"


@pytest.fixture
def clients(db):
    """A confidential code-flow client with two redirect URIs, a public one with one, and a
    client_credentials service."""
    confidential = make_client(
        name="Confidential RP",
        scopes=["openid", "profile", "email"],
        redirect_uris=[REDIRECT_URI, OTHER_REDIRECT_URI],
    )
    public, _ = make_client(name="Public RP", public=True, scopes=["openid", "profile", "email"])
    service = make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])
    return {"confidential": confidential, "public": (public, None), "service": service}


def token_request(signed_in, clients, grant: str) -> tuple[dict, tuple | None]:
    """A fresh, valid token request for ``grant``: (form body, Basic credentials or None)."""
    if grant == "authorization_code":
        app, secret = clients["confidential"]
        code, verifier = code_for(signed_in, app, scope="openid profile")
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        return body, (app.client_id, secret)
    if grant == "authorization_code (public client)":
        app, _ = clients["public"]
        code, verifier = code_for(signed_in, app, scope="openid profile")
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": app.client_id,
        }
        return body, None
    if grant == "refresh_token":
        app, secret = clients["confidential"]
        issued = tokens_for(signed_in, app, secret, scope="openid profile")
        body = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
        return body, (app.client_id, secret)
    if grant == "client_credentials (client_secret_post)":
        app, secret = clients["service"]
        body = {
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": secret,
        }
        return body, None
    app, secret = clients["service"]
    return {"grant_type": "client_credentials"}, (app.client_id, secret)


def outcome(response) -> tuple[int, str | None]:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    if response.status_code == HTTPStatus.OK:
        assert "access_token" in body
        return HTTPStatus.OK, None
    assert "access_token" not in body and "refresh_token" not in body
    return response.status_code, body["error"]


OK = (HTTPStatus.OK, None)
INVALID_REQUEST = (HTTPStatus.BAD_REQUEST, "invalid_request")
INVALID_CLIENT = (HTTPStatus.UNAUTHORIZED, "invalid_client")

# (grant, parameter sent empty, what a client gets when the parameter is missing)
CASES = [
    ("authorization_code", "grant_type", INVALID_REQUEST),
    ("authorization_code", "code", INVALID_REQUEST),
    # Required when the client registered several redirect URIs (RFC 6749 §4.1.3); with
    # one, it may be left out and that one applies (OIDC Core §3.1.3.2).
    ("authorization_code", "redirect_uri", INVALID_REQUEST),
    ("authorization_code (public client)", "redirect_uri", OK),
    ("authorization_code", "code_verifier", INVALID_REQUEST),
    ("authorization_code", "client_id", OK),
    ("authorization_code", "client_secret", OK),  # Basic alone, not Basic and post at once
    ("authorization_code", "scope", OK),
    ("authorization_code", "resource", OK),
    ("authorization_code (public client)", "client_id", INVALID_CLIENT),
    ("authorization_code (public client)", "code_verifier", INVALID_REQUEST),
    ("refresh_token", "grant_type", INVALID_REQUEST),
    ("refresh_token", "refresh_token", INVALID_REQUEST),
    ("refresh_token", "scope", OK),
    ("refresh_token", "client_id", OK),
    ("client_credentials", "grant_type", INVALID_REQUEST),
    ("client_credentials", "scope", OK),
    ("client_credentials", "client_id", OK),
    ("client_credentials (client_secret_post)", "client_id", INVALID_CLIENT),
    ("client_credentials (client_secret_post)", "client_secret", INVALID_CLIENT),
]


@pytest.mark.spec("OAuth 2.1", "3.2")
@pytest.mark.parametrize(
    "grant, parameter, expected", CASES, ids=[f"{g}-{p}=" for g, p, _ in CASES]
)
def test_empty_parameter_gets_the_answer_for_a_missing_one(
    signed_in, clients, grant, parameter, expected
):
    """OAuth 2.1 §3.2 / RFC 6749 §5.2: a token request with ``parameter=`` gets the same
    status and error code as the same request without the parameter (``code=`` is an
    invalid_request, not an invalid_grant; ``code_verifier=`` never yields tokens); an
    empty optional parameter changes nothing."""
    answers = {}
    for variant in ("missing", "empty"):
        body, auth = token_request(signed_in, clients, grant)
        if variant == "missing":
            body.pop(parameter, None)
            if parameter == "client_secret" and auth is not None:
                continue  # Basic credentials cannot lose their secret; only the empty case
        else:
            body[parameter] = ""
        response = signed_in.post("/oauth/token", data=body, auth=auth)
        answers[variant] = outcome(response)
    assert answers["empty"] == expected
    assert answers.get("missing", expected) == expected


@pytest.mark.spec("OAuth 2.1", "3.2")
def test_empty_scope_keeps_the_granted_scope_on_refresh(signed_in, clients):
    """OAuth 2.1 §3.2, RFC 6749 §6: omitting ``scope`` on refresh keeps the original scope;
    ``scope=`` is the same request, not a request for no scope."""
    body, auth = token_request(signed_in, clients, "refresh_token")
    response = signed_in.post("/oauth/token", data={**body, "scope": ""}, auth=auth)
    assert response.status_code == HTTPStatus.OK, response.text
    assert set(response.json()["scope"].split()) == {"openid", "profile"}


@pytest.mark.spec("OAuth 2.1", "3.2")
def test_empty_scope_is_the_default_scope_for_client_credentials(signed_in, clients):
    """OAuth 2.1 §3.2, RFC 6749 §3.3: ``scope=`` means no scope requested, so the client's
    default applies, exactly as when ``scope`` is left out."""
    body, auth = token_request(signed_in, clients, "client_credentials")
    without = signed_in.post("/oauth/token", data=body, auth=auth)
    empty = signed_in.post("/oauth/token", data={**body, "scope": ""}, auth=auth)
    assert without.status_code == empty.status_code == HTTPStatus.OK, empty.text
    assert without.json().get("scope") == empty.json().get("scope")


@pytest.mark.spec("OAuth 2.1", "3.2")
@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
def test_empty_token_at_revocation_and_introspection_is_a_missing_token(
    signed_in, clients, endpoint
):
    """OAuth 2.1 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: ``token`` is required; ``token=`` is the
    same as no token, 400 invalid_request, at both endpoints."""
    app, secret = clients["confidential"]
    for data in ({}, {"token": ""}):
        response = signed_in.post(f"/oauth/{endpoint}", data=data, auth=(app.client_id, secret))
        assert response.status_code == HTTPStatus.BAD_REQUEST, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"] == "invalid_request"


@pytest.mark.spec("OAuth 2.1", "3.2")
@pytest.mark.parametrize("extra", [{"token_type_hint": ""}, {"client_id": ""}])
def test_empty_optional_parameter_at_revocation_and_introspection_is_ignored(
    signed_in, clients, extra
):
    """OAuth 2.1 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: an empty ``token_type_hint`` is no hint
    and an empty ``client_id`` next to Basic credentials is no client_id: the caller's own
    token is introspected and then revoked as usual."""
    app, secret = clients["confidential"]
    access_token = tokens_for(signed_in, app, secret, scope="openid")["access_token"]
    response = introspect(signed_in, app, secret, access_token, **extra)
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["active"] is True
    response = revoke(signed_in, app, secret, access_token, **extra)
    assert response.status_code == HTTPStatus.OK, response.text
    assert introspect(signed_in, app, secret, access_token).json() == {"active": False}
