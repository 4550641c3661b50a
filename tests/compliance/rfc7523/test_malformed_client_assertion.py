"""A malformed ``client_assertion`` is a failed client authentication (RFC 7523 §3.1,
RFC 6749 §5.2): 401 invalid_client at every endpoint that authenticates clients, never a
500, whatever the assertion holds."""

from __future__ import annotations

import base64
from http import HTTPStatus

import pytest

from oauth.client_auth import JWT_BEARER_ASSERTION

pytestmark = pytest.mark.django_db


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


HEADER = _b64(b'{"alg":"RS256","typ":"JWT"}')
ASSERTIONS = {
    "deeply nested payload": f"{HEADER}.{_b64(b'[' * 5000)}.c2ln",
    "deeply nested header": f"{_b64(b'[' * 5000)}.{_b64(b'{}')}.c2ln",
    "payload not JSON": f"{HEADER}.{_b64(b'not json')}.c2ln",
    "payload an array": f"{HEADER}.{_b64(b'[1,2]')}.c2ln",
    "payload without iss": f"{HEADER}.{_b64(b'{}')}.c2ln",
    "not a JWS": "garbage",
}


@pytest.mark.spec("RFC 7523", "3.1")
@pytest.mark.parametrize("assertion", ASSERTIONS, ids=list(ASSERTIONS))
@pytest.mark.parametrize(
    "endpoint, extra",
    [
        ("/oauth/token", {"grant_type": "client_credentials"}),
        ("/oauth/revoke", {"token": "x"}),
        ("/oauth/introspect", {"token": "x"}),
    ],
    ids=["token", "revoke", "introspect"],
)
def test_malformed_client_assertion_is_invalid_client(http, assertion, endpoint, extra, error_logs):
    """RFC 7523 §3.1: an assertion that cannot be read (nested thousands deep, not JSON,
    not an object, no ``iss``) is 401 invalid_client in JSON, with nothing logged as an
    error."""
    data = {
        **extra,
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": ASSERTIONS[assertion],
    }
    response = http.post(endpoint, data=data)
    assert response.status_code == HTTPStatus.UNAUTHORIZED, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_client"
    assert error_logs == []
