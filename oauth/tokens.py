"""Minting tokens: RFC 9068 JWT access tokens, opaque refresh tokens, ID token signing.

Plain functions so that DOT's views (through ACCESS_TOKEN_GENERATOR and the
validator) and native handlers can both call them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid

from jwcrypto import jwt

from common.conf import authsite_settings
from oauth import claims, keys

ACCESS_TOKEN_ALGORITHM = "RS256"


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


def generate_refresh_token(request) -> str:
    """An opaque refresh token with 256 bits of randomness (OAuth 2.1 §7.7)."""
    return secrets.token_urlsafe(32)


def sign(claims_: dict, *, typ: str, algorithm: str = ACCESS_TOKEN_ALGORITHM) -> str:
    """Sign ``claims_`` with the active key for ``algorithm``; the header names its ``kid``."""
    key = keys.get_signing_key(algorithm)
    token = jwt.JWT(
        header=json.dumps({"typ": typ, "alg": key.algorithm, "kid": key.kid}),
        claims=json.dumps(claims_, default=str),
    )
    token.make_signed_token(key.jwk)
    return token.serialize()


def mint_access_token(request, refresh_token: bool = False) -> str:
    """Return an RFC 9068 access token for the oauthlib ``request`` (ACCESS_TOKEN_GENERATOR).

    The ``jti`` and ``exp`` are left on the request so the validator stores the
    same values on the AccessToken row it saves next.
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
    request.authsite_access_jti = jti
    return sign(body, typ="at+jwt")


def checksum(token: str) -> str:
    """SHA-256 hex of a token, as DOT stores it (RFC 9700 §4 token storage)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
