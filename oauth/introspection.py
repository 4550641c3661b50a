"""Token introspection (RFC 7662) as a plain function of the presented token."""

from __future__ import annotations

from django.utils import timezone

from oauth import claims, tokens
from oauth.models import RefreshToken, unverified_claims
from oauth.validators import load_access_token, refresh_token_lifetimes

INACTIVE = {"active": False}


def introspect(token: str, *, hint: str | None = None) -> dict:
    """What a resource server may know about ``token``; ``{"active": false}`` and nothing
    else for anything expired, revoked, unknown or malformed (RFC 7662 §2.2)."""
    if hint == "refresh_token":
        return _refresh_token(token) or _access_token(token) or INACTIVE
    return _access_token(token) or _refresh_token(token) or INACTIVE


def _user_fields(user) -> dict:
    if user is None:
        return {}
    return {"sub": claims.subject(user), "username": user.get_username()}


def _access_token(token: str) -> dict | None:
    if token.count(".") != 2:
        return None
    row = load_access_token(token)
    if row is None or not row.is_valid():
        return None
    if row.user is not None and not row.user.is_active:
        return None
    client_id = row.application.client_id if row.application else None
    # The token's own exp and iat, as a resource server reads them (the row's are set a
    # moment later by DOT, and may fall in the next second); the native fast path answers
    # from the same claims (oauth/fastpath/introspection.py).
    signed = unverified_claims(token)
    answer = {
        "active": True,
        "token_type": "Bearer",
        "scope": row.scope,
        "client_id": client_id,
        "exp": _int_claim(signed, "exp", row.expires),
        "iat": _int_claim(signed, "iat", row.created),
        "iss": tokens.issuer(),
        "jti": str(row.jti),
        "aud": row.resource or client_id,
        **({"sub": client_id} if row.user is None else _user_fields(row.user)),
    }
    if not row.scope:
        del answer["scope"]  # a scope value names at least one scope (RFC 6749 §3.3)
    return answer


def _int_claim(signed: dict, name: str, fallback) -> int:
    value = signed.get(name)
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool)
        else int(fallback.timestamp())
    )


def _refresh_token(token: str) -> dict | None:
    row = (
        RefreshToken.objects.select_related("application", "user", "access_token")
        .filter(token_checksum=tokens.checksum(token), revoked__isnull=True)
        .first()
    )
    if row is None or row.application is None:
        return None
    if row.user is not None and not row.user.is_active:
        return None
    idle, absolute = refresh_token_lifetimes(row.application)
    started = row.family_started or row.created
    expires = min(row.created + idle, started + absolute)
    if expires <= timezone.now():
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": row.access_token.scope if row.access_token else "",
        "client_id": row.application.client_id,
        "exp": int(expires.timestamp()),
        "iat": int(row.created.timestamp()),
        "iss": tokens.issuer(),
        **_user_fields(row.user),
    }
