"""Machine endpoints answer every error in JSON, in every mode (RFC 6749 §5.2, RFC 7009 §2.2.1,
RFC 7662 §2.3, RFC 6750 §3, OIDC Discovery §4, RFC 8414 §3).

A client library parses the body of an error; an HTML page (Django's error page, its
DEBUG technical page, an empty 405) breaks it. Whatever Django itself refuses before
a view runs (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, more fields than
``DATA_UPLOAD_MAX_NUMBER_FIELDS``, a Host outside ``ALLOWED_HOSTS``, a method the
endpoint does not take) is answered the same way.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

# (path, methods it takes)
ENDPOINTS = [
    ("/oauth/token", {"POST"}),
    ("/oauth/revoke", {"POST"}),
    ("/oauth/introspect", {"POST"}),
    ("/oauth/userinfo", {"GET", "POST"}),
    ("/.well-known/openid-configuration", {"GET", "HEAD"}),
    ("/.well-known/oauth-authorization-server", {"GET", "HEAD"}),
    ("/.well-known/jwks.json", {"GET", "HEAD"}),
]
PATHS = [path for path, _ in ENDPOINTS]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
DESCRIPTION_CHARS = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def mode(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_json_error(response, status, error="invalid_request"):
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert DESCRIPTION_CHARS.match(body.get("error_description", ""))
    assert "Traceback" not in response.text


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize("path", PATHS)
def test_oversized_body_is_a_json_413(http, mode, path, settings, caplog):
    """RFC 6749 §5.2: a body over the limit is refused with 413 JSON; a client error logs no
    ERROR."""
    body = b"token=" + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    with caplog.at_level(logging.INFO):
        response = http.post(path, content=body, headers=FORM)
    assert_json_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize("path", PATHS)
def test_too_many_fields_is_a_json_invalid_request(http, mode, path, settings):
    """RFC 6749 §5.2: more fields than Django reads → 400 JSON invalid_request that says so."""
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = http.post(path, content=body, headers=FORM)
    assert_json_error(response, HTTPStatus.BAD_REQUEST)
    assert "fields" in response.json()["error_description"]


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize(("path", "methods"), ENDPOINTS)
def test_disallowed_host_is_a_json_invalid_request(http, mode, path, methods):
    """RFC 6749 §5.2: a Host outside ALLOWED_HOSTS → 400 JSON invalid_request, not HTML."""
    method = "POST" if "POST" in methods else "GET"
    response = http.request(method, path, headers={"Host": "evil.example", **FORM})
    assert_json_error(response, HTTPStatus.BAD_REQUEST)


@pytest.mark.spec("RFC 9110", "15.5.6")
@pytest.mark.parametrize(
    ("path", "methods", "method"),
    [
        (path, methods, method)
        for path, methods in ENDPOINTS
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
        if method not in methods
    ],
)
def test_unsupported_method_is_a_json_405_with_allow(http, mode, path, methods, method):
    """RFC 9110 §15.5.6: 405 names the methods in Allow; the body is still OAuth JSON."""
    response = http.request(method, path)
    assert_json_error(response, HTTPStatus.METHOD_NOT_ALLOWED)
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert methods - {"HEAD"} <= allowed


# --- error_description characters -----------------------------------------------------

HOSTILE = ['a"b', "a\\b", "grant\u00e9", "\u202e\u0000x", 'q"\\\u00fc\u4e2d']


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("name", HOSTILE)
def test_echoed_parameter_names_keep_the_description_charset(http, confidential, path, name):
    """RFC 6749 §5.2: a repeated parameter whose name holds quotes, backslashes or non-ASCII
    is named in the description with only the characters error_description allows."""
    app, secret = confidential
    response = http.post(
        path,
        data={"token": "t", "grant_type": "client_credentials", name: ["1", "2"]},
        auth=(app.client_id, secret),
    )
    assert_json_error(response, HTTPStatus.BAD_REQUEST)


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize("value", HOSTILE)
def test_unknown_grant_type_keeps_the_description_charset(http, confidential, value):
    """RFC 6749 §5.2: an unknown grant_type holding hostile characters is described with
    only the characters error_description allows."""
    app, secret = confidential
    response = http.post("/oauth/token", data={"grant_type": value}, auth=(app.client_id, secret))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.headers["content-type"] == "application/json"
    assert DESCRIPTION_CHARS.match(response.json().get("error_description", ""))


@pytest.mark.spec("RFC 6750", "3")
@pytest.mark.parametrize("value", HOSTILE)
def test_userinfo_errors_keep_the_description_charset(http, value):
    """RFC 6750 §3: whatever the token held, the JSON body's and the challenge's
    error_description keep to the RFC 6749 §5.2 characters."""
    for response in (
        http.get("/oauth/userinfo", params={"access_token": value}),
        http.get("/oauth/userinfo", headers={"Authorization": "Bearer " + value.encode().hex()}),
    ):
        assert response.status_code >= 400
        if response.content:
            assert DESCRIPTION_CHARS.match(response.json().get("error_description", ""))
        challenge = response.headers.get("www-authenticate", "")
        description = re.search(r'error_description="([^"]*)"', challenge)
        assert description is None or DESCRIPTION_CHARS.match(description.group(1))


@pytest.mark.spec("RFC 6749", "5.2")
@pytest.mark.parametrize("text", HOSTILE + ["plain text", "x" * 3])
def test_safe_description_keeps_only_allowed_characters(text):
    """RFC 6749 §5.2: safe_description() keeps only the error_description characters and
    turns a double quote into a single one."""
    from oauth.errors import safe_description

    cleaned = safe_description(text)
    assert DESCRIPTION_CHARS.match(cleaned)
    assert safe_description('say "hi"') == "say 'hi'"


@pytest.mark.spec("RFC 8414", "3")
@pytest.mark.parametrize("path", ["/.well-known/no-such-document", "/oauth/token/extra"])
def test_unknown_address_under_a_machine_endpoint_is_a_json_404(http, mode, path):
    """RFC 8414 §3, RFC 6749 §5.2: no HTML 404 (nor DEBUG's URL list) where a program is
    the caller."""
    response = http.get(path)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.headers["content-type"] == "application/json"
    assert "URLconf" not in response.text
