"""OIDC Core §5.3.1 and §5.3.3: how the userinfo endpoint is called (GET or POST, the
token as a Bearer credential) and how it fails (RFC 6750 §3 errors, JSON, never a
page). The claims it returns are tested elsewhere."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import tokens_for

pytestmark = pytest.mark.django_db

USERINFO = "/oauth/userinfo"


@pytest.mark.spec("OIDC Core", "5.3.1")
def test_userinfo_answers_get_and_post_alike(signed_in, first_party):
    """OIDC Core §5.3.1: "The Client sends the UserInfo Request using either HTTP GET or
    HTTP POST": both answer 200 with the same JSON claims, from a relying party's back end
    (no cookies) as well as from a browser that holds a session but sends no CSRF token
    (a bearer request is not a form submission)."""
    app, secret = first_party
    token = tokens_for(signed_in, app, secret)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    from_browser = [
        signed_in.get(USERINFO, headers=headers),
        signed_in.post(USERINFO, headers=headers),
        signed_in.post(USERINFO, headers=headers, data={"unrelated": "x"}),
    ]
    signed_in.cookies.clear()
    from_back_end = [
        signed_in.get(USERINFO, headers=headers),
        signed_in.post(USERINFO, headers=headers),
        signed_in.post(USERINFO, data={"access_token": token}),
    ]
    bodies = []
    for response in from_browser + from_back_end:
        assert response.status_code == HTTPStatus.OK, response.text[:300]
        assert response.headers["content-type"] == "application/json"
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["sub"]


@pytest.mark.spec("OIDC Core", "5.3.1")
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_are_a_json_405_with_allow(signed_in, first_party, method):
    """OIDC Core §5.3.1, RFC 9110 §15.5.6: a method userinfo does not offer is 405 with
    ``Allow``, in JSON like every other userinfo answer, whether or not a valid token comes
    with it."""
    app, secret = first_party
    token = tokens_for(signed_in, app, secret)["access_token"]
    signed_in.cookies.clear()
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = signed_in.request(method, USERINFO, headers=headers)
        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"] == "invalid_request"
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert {"GET", "POST"} <= allowed and method not in allowed


ERROR_CASES = {
    "no token": ({}, None, HTTPStatus.UNAUTHORIZED, None),
    "unknown token": (
        {"Authorization": "Bearer nope"},
        None,
        HTTPStatus.UNAUTHORIZED,
        "invalid_token",
    ),
    "malformed header": (
        {"Authorization": "Bearer"},
        None,
        HTTPStatus.BAD_REQUEST,
        "invalid_request",
    ),
    "token in the query": ({}, {"access_token": "nope"}, HTTPStatus.BAD_REQUEST, "invalid_request"),
}


@pytest.mark.spec("OIDC Core", "5.3.3")
@pytest.mark.parametrize("case", ERROR_CASES, ids=list(ERROR_CASES))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_errors_are_json_with_a_bearer_challenge(http, case, method):
    """OIDC Core §5.3.3: "the UserInfo Endpoint returns an Error Response as defined in
    Section 3 of OAuth 2.0 Bearer Token Usage": the status and the error code in both the
    JSON body and ``WWW-Authenticate: Bearer``; never an HTML page, never cacheable."""
    headers, params, status, error = ERROR_CASES[case]
    response = http.request(method, USERINFO, headers=headers, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert "<html" not in response.text.lower()
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    if error is None:
        assert response.json() == {}
        assert "error=" not in response.headers["www-authenticate"]
    else:
        assert response.json()["error"] == error
        assert f'error="{error}"' in response.headers["www-authenticate"]
