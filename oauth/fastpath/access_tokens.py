"""One of our JWT access tokens, as the fast path's endpoints check it.

Introspection, revocation and userinfo verify a presented access token the
same way (``oauth.keys.verify_jwt`` with ``typ`` ``at+jwt``, as
``oauth.validators.load_access_token`` does on Django's path) and read
revocations from the same deny list; the steps live here once.
"""

from __future__ import annotations

import logging
import uuid

from common.logging import log_dependency_failure
from oauth import keys, revocation
from oauth.exceptions import InvalidJWT
from oauth.fastpath.backends import call_django

logger = logging.getLogger(__name__)

# Longest token the fast path verifies; a longer one is Django's to answer.
MAX_TOKEN_LENGTH = 8192


def looks_like_jwt(token: str | None) -> bool:
    """Whether ``token`` has a compact JWS's shape (three segments) and a sane length."""
    return bool(token) and token.count(".") == 2 and len(token) <= MAX_TOKEN_LENGTH


async def verify(token: str) -> dict | None:
    """The claims of ``token`` when it is one of our live JWT access tokens, else None.

    None for anything ``verify_jwt`` refuses (unknown ``kid``, expired, altered,
    another ``typ``): callers decline, and Django gives its own answer.
    """
    if not looks_like_jwt(token):
        return None
    try:
        return await call_django(keys.verify_jwt, token, expected_typ="at+jwt")
    except InvalidJWT:
        return None


def jti_of(claims: dict) -> uuid.UUID | None:
    """The token's ``jti`` as a UUID (the row's key), or None when it is not one."""
    try:
        return uuid.UUID(str(claims["jti"]))
    except (KeyError, ValueError, TypeError):
        return None


async def denied(backends, jti: uuid.UUID, endpoint: str) -> bool | None:
    """True/False from the deny list, or None when only the row can tell.

    None when Redis is down (its breaker open), fails, or the list is not known
    complete (a flush, a restart): the caller must then read the token's row,
    so a revoked token is never taken for a live one.
    """
    if not backends.redis_usable():
        return None
    try:
        values = await backends.redis.mget(revocation.deny_list_keys(jti))
    except Exception as exc:
        backends.redis_failed(exc)
        log_dependency_failure(
            logger,
            "fast path deny list read",
            "deny list unavailable, %s reads the row: %s",
            endpoint,
            type(exc).__name__,
        )
        return None
    return revocation.interpret(values)
