"""Minting tokens: RFC 9068 JWT access tokens, opaque refresh tokens, ID token signing.

Plain functions so that DOT's views (through ACCESS_TOKEN_GENERATOR,
OIDC_SERVER_CLASS and the validator) and native handlers can all call them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from oauthlib import openid

from common.conf import authsite_settings
from oauth import claims, keys


def issuer() -> str:
    return authsite_settings.PUBLIC_URL


def access_token_lifetime(request) -> int:
    """Seconds an access token lives: the client's own setting, else the server default.

    Passed to oauthlib as ``token_expires_in``, so ``expires_in`` in the token
    response, the JWT's ``exp`` and the stored row agree.
    """
    client = getattr(request, "client", None)
    lifetime = getattr(client, "access_token_lifetime_seconds", None)
    return int(lifetime or authsite_settings.ACCESS_TOKEN_LIFETIME_SECONDS)


class OIDCServer(openid.Server):
    """oauthlib's OpenID Connect server with per-client access-token lifetimes.

    DOT builds it from ``OAUTH2_PROVIDER["OIDC_SERVER_CLASS"]`` and passes the
    fixed ``ACCESS_TOKEN_EXPIRE_SECONDS`` as ``token_expires_in``; this server
    passes :func:`access_token_lifetime` on instead, which falls back to that
    same default when the client sets no lifetime of its own.
    """

    def __init__(self, request_validator, token_expires_in=None, *args, **kwargs):
        super().__init__(request_validator, access_token_lifetime, *args, **kwargs)


def generate_refresh_token(request) -> str:
    """An opaque refresh token with 256 bits of randomness (OAuth 2.1 §7.7)."""
    return secrets.token_urlsafe(32)


def access_token_algorithm() -> str:
    """The algorithm access tokens are signed with (``AUTHSITE_ACCESS_TOKEN_ALGORITHM``)."""
    return authsite_settings.ACCESS_TOKEN_ALGORITHM


def sign(claims_: dict, *, typ: str, algorithm: str | None = None) -> str:
    """Sign ``claims_`` with the active key for ``algorithm``; the header names its ``kid``.

    ``algorithm`` defaults to :func:`access_token_algorithm`. Signs with
    ``cryptography`` directly over the per-process key memo (oauth/keys.py):
    no database read and no key parsing per token, and ES256 costs about a
    third of what a JOSE library adds around the same call.
    """
    key = keys.get_signing_key(access_token_algorithm() if algorithm is None else algorithm)
    header = {"typ": typ, "alg": key.algorithm, "kid": key.kid}
    signing_input = f"{_b64json(header)}.{_b64json(claims_)}"
    signature = _SIGNERS[key.algorithm](key.private_key, signing_input.encode("ascii"))
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(value: dict) -> str:
    return _b64(json.dumps(value, separators=(",", ":"), default=str).encode("utf-8"))


def _sign_rs256(private_key, data: bytes) -> bytes:
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _sign_es256(private_key, data: bytes) -> bytes:
    """ECDSA P-256; JWS wants r and s as two 32-byte big-endian integers (RFC 7518 §3.4)."""
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_SIGNERS = {"RS256": _sign_rs256, "ES256": _sign_es256}


def mint_access_token(request, refresh_token: bool = False) -> str:
    """Return an RFC 9068 access token for the oauthlib ``request`` (ACCESS_TOKEN_GENERATOR).

    The AccessToken row saved next reads its ``jti`` back from the token
    (``oauth.models.jti_of``), so the deny list and the database agree.
    """
    client = request.client
    now = int(time.time())
    lifetime = access_token_lifetime(request)
    jti = uuid.uuid4()
    user = None if request.grant_type == "client_credentials" else getattr(request, "user", None)
    body = {
        "iss": issuer(),
        # No user (client credentials): the client is the subject (RFC 9068 §2.2).
        "sub": claims.subject(user) if user is not None else client.client_id,
        "aud": list(getattr(request, "resource", None) or []) or client.client_id,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes or []),
        "jti": str(jti),
        "iat": now,
        "exp": now + lifetime,
    }
    if user is not None:
        grant = getattr(request, "authsite_grant", None)
        signed_in = grant.auth_time if grant is not None and grant.auth_time else user.last_login
        if signed_in is not None:
            body["auth_time"] = int(signed_in.timestamp())
    if not body["scope"]:
        del body["scope"]  # RFC 9068 §2.2.3: scope only when some were granted
    return sign(body, typ="at+jwt", algorithm=access_token_algorithm())


def checksum(token: str) -> str:
    """SHA-256 hex of a token or authorization code: the one way authsite fingerprints them.

    The same value DOT stores in ``token_checksum`` (RFC 9700 §4 token storage),
    so rows are found by it; ``grant_code_hash`` holds it for a code.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
