"""Token strings of every length and shape a caller may present to revocation,
introspection or userinfo, and a collector for the log records they cause.

A shape is a function of a real token response (so a tampered JWT keeps a real
``kid``); each one is a token no endpoint may answer with an error about its form.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time

import pytest
from jwcrypto import jwk, jwt


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _segment(document) -> str:
    return _b64(json.dumps(document).encode())


def _tampered_signature(real: dict) -> str:
    header, payload, signature = real["access_token"].split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{header}.{payload}.{flipped}{signature[1:]}"


def _tampered_payload(real: dict) -> str:
    header, payload, signature = real["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "openid profile email roles"
    return f"{header}.{_segment(claims)}.{signature}"


def _other_issuer(real: dict) -> str:
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="someone-else")
    now = int(time.time())
    token = jwt.JWT(
        header={"alg": "RS256", "kid": "someone-else", "typ": "at+jwt"},
        claims={
            "iss": "https://idp.attacker.test",
            "sub": "x",
            "aud": "x",
            "iat": now,
            "exp": now + 600,
            "jti": "6f1c1f8e-6c1e-4b6a-9f5e-0f1e2d3c4b5a",
            "scope": "openid",
        },
    )
    token.make_signed_token(key)
    return token.serialize()


def _alg_none(real: dict) -> str:
    header = json.loads(base64.urlsafe_b64decode(real["access_token"].split(".")[0] + "=="))
    payload = real["access_token"].split(".")[1]
    return f"{_segment({**header, 'alg': 'none'})}.{payload}."


def _deeply_nested(real: dict) -> str:
    return f"{_b64(b'[' * 60_000)}.{_segment({'sub': 'x'})}.c2ln"


# name -> shape(real token response) -> the token string presented
SHAPES = {
    "one character": lambda real: "x",
    "8193 characters": lambda real: "a" * 8193,
    "100 KB": lambda real: secrets.token_urlsafe(75_000)[:100_000],
    "non-ASCII": lambda real: "jeton-é-日本語-🔑",
    "JWT with a bad signature": _tampered_signature,
    "JWT with a changed payload": _tampered_payload,
    "JWT of another issuer": _other_issuer,
    "JWT with alg none": _alg_none,
    "JWT with a deeply nested header": _deeply_nested,
    "three dots of nothing": lambda real: "..",
    "refresh-token look-alike": lambda real: secrets.token_urlsafe(32),
    "refresh token with a space": lambda real: f" {real['refresh_token']}",
    "whitespace": lambda real: " \t ",
    "NUL": lambda real: "\x00",
    "control characters": lambda real: "abc\x00\x01\x1b[31m\x7fdef\r\n",
}

HINTS = [None, "access_token", "refresh_token", "id_token", "bogus", ""]


@pytest.fixture
def error_logs():
    """Every log record at ERROR or above, or carrying a traceback, during the test.

    Collected from the root logger and Django's non-propagating loggers, so a
    500 logged by ``django.request`` is seen too.
    """
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR or record.exc_info:
                records.append(record)

    handler = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("", "django", "django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
