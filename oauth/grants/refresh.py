"""Rotating a refresh token (RFC 6749 §6, RFC 9700 §4.14.2, OAuth 2.1 §4.3).

The checks run in the order DOT and authsite's validator run them: a token
that was already rotated or revoked is reuse (its family is revoked, whoever
presents it), then the bound access token, DOT's ``REFRESH_TOKEN_EXPIRE_SECONDS``,
the client binding, the user, the idle and absolute lifetimes, and last the
scope, which may only narrow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oauth2_provider.models import refresh_token_expire_timedelta
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749.utils import scope_to_list

from common.conf import authsite_settings
from oauth.exceptions import InvalidGrantError, InvalidScopeError, RefreshTokenReusedError
from oauth.grants.records import RefreshRecord


def lifetimes(client) -> tuple[timedelta, timedelta]:
    """(idle, absolute) lifetime of the client's refresh tokens, else the server defaults."""
    idle = (
        client.refresh_token_idle_lifetime_seconds
        or authsite_settings.REFRESH_TOKEN_IDLE_LIFETIME_SECONDS
    )
    absolute = (
        client.refresh_token_absolute_lifetime_seconds
        or authsite_settings.REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS
    )
    return timedelta(seconds=idle), timedelta(seconds=absolute)


def family_started(token: RefreshRecord) -> datetime:
    """When the family began: its first token's issue (older rows have only ``created``)."""
    return token.family_started or token.created


def check_rotation(client, params: dict, token: RefreshRecord | None, now: datetime) -> list[str]:
    """Return the scopes the new pair gets; raise the RFC error otherwise.

    ``token`` is the stored refresh token of that value (any client's: reuse
    revokes the family whoever presents it). The caller has already
    authenticated ``client`` and checked that it may use the grant.

    Raises ``RefreshTokenReusedError`` for a rotated or revoked token that
    belongs to a family (the caller revokes it), ``InvalidGrantError`` for
    any other unusable token, ``InvalidScopeError`` for a widened scope.
    """
    if token is None:
        raise InvalidGrantError()
    if token.revoked is not None:
        grace = timedelta(seconds=oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS)
        if grace and token.revoked > now - grace:
            raise InvalidGrantError()  # a retry within the grace period: not supported here
        if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION and token.token_family:
            raise RefreshTokenReusedError(token.token_family, token.application, token.user)
        raise InvalidGrantError()
    if token.access_token_id is None:
        raise InvalidGrantError()
    expire = refresh_token_expire_timedelta()
    if expire and token.access_token_expires + expire <= now:
        raise InvalidGrantError()
    if token.application_id != client.pk:
        raise InvalidGrantError()
    if not token.user.is_active:
        raise InvalidGrantError()
    idle, absolute = lifetimes(client)
    if token.created + idle <= now or family_started(token) + absolute <= now:
        raise InvalidGrantError()
    original = scope_to_list(token.access_token_scope or "")
    requested = params.get("scope")
    if not requested:
        return original
    scopes = scope_to_list(requested)
    if not all(scope in original for scope in scopes):
        raise InvalidScopeError()
    return scopes
