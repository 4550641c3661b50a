"""Revocation: PostgreSQL records it, a Redis deny list makes it fast and shared.

A revoked access token keeps its row (``revoked`` set) so the trail of issued
tokens stays complete, and its ``jti`` goes on a deny list in the shared cache
until the token's ``exp``. Every instance consults the deny list first; when
the cache is unreachable the database answers instead, so a revoked token is
never accepted and nothing fails.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from common.logging import log_dependency_failure

logger = logging.getLogger(__name__)

DENY_LIST_PREFIX = "authsite:denied-jti:"


def _key(jti) -> str:
    return f"{DENY_LIST_PREFIX}{jti}"


def deny(entries: Iterable[tuple[uuid.UUID, datetime]]) -> bool:
    """Put (jti, expires) pairs on the deny list; return False if the cache is unreachable."""
    now = timezone.now()
    try:
        for jti, expires in entries:
            ttl = int((expires - now).total_seconds()) + 60
            if ttl > 0:
                cache.set(_key(jti), 1, timeout=ttl)
    except Exception as exc:  # the database still records the revocation
        log_dependency_failure(
            logger,
            "deny list write",
            "deny list unavailable, revocation recorded in the database only: %r",
            exc,
        )
        return False
    return True


def is_denied(jti) -> bool | None:
    """True if ``jti`` is on the deny list, False if not, None if the cache is unreachable."""
    try:
        return cache.get(_key(jti)) is not None
    except Exception as exc:  # Redis down, slow or its breaker open
        log_dependency_failure(
            logger, "deny list read", "deny list unavailable, falling back to the database: %r", exc
        )
        return None


def is_access_token_revoked(jti) -> bool:
    """Whether the access token ``jti`` was revoked: deny list first, database when needed."""
    from oauth.models import AccessToken

    denied = is_denied(jti)
    if denied:
        return True
    if denied is None:
        return AccessToken.objects.filter(jti=jti, revoked__isnull=False).exists()
    return False


def revoke_access_tokens(queryset) -> int:
    """Mark every live token of ``queryset`` revoked and deny-list it after commit."""
    now = timezone.now()
    with transaction.atomic(using=queryset.db):
        rows = list(queryset.filter(revoked__isnull=True).values_list("pk", "jti", "expires"))
        if not rows:
            return 0
        queryset.model.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            revoked=now, updated=now
        )
        entries = [(jti, expires) for _, jti, expires in rows]
        transaction.on_commit(lambda: deny(entries), using=queryset.db)
    return len(rows)


def revoke_token(token: str, *, client, hint: str | None = None) -> None:
    """RFC 7009: revoke ``token`` if it belongs to ``client``; otherwise do nothing, silently.

    Revoking a refresh token also revokes its family's access tokens; revoking an
    access token also revokes the refresh token bound to it (RFC 7009 §2.1).
    """
    import hashlib

    from oauth.models import AccessToken, RefreshToken

    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    lookups = [AccessToken, RefreshToken]
    if hint == "refresh_token":
        lookups.reverse()
    for model in lookups:
        row = model.objects.filter(token_checksum=checksum, application=client).first()
        if row is None:
            continue
        with transaction.atomic():
            if model is AccessToken:
                revoke_access_tokens(AccessToken.objects.filter(pk=row.pk))
                RefreshToken.objects.filter(access_token=row, revoked__isnull=True).update(
                    revoked=timezone.now()
                )
            elif row.token_family:
                RefreshToken.revoke_family(row.token_family)
            else:
                revoke_access_tokens(AccessToken.objects.filter(pk=row.access_token_id))
                RefreshToken.objects.filter(pk=row.pk).update(revoked=timezone.now())
        from oauth import signals

        signals.token_revoked.send(
            sender=model,
            client=client,
            user=row.user,
            token_type="access_token" if model is AccessToken else "refresh_token",
        )
        return


def revoke_grant_tokens(*, application, user=None) -> int:
    """Revoke every access and refresh token of a client (optionally for one user)."""
    from oauth.models import AccessToken, RefreshToken

    filters = {"application": application}
    if user is not None:
        filters["user"] = user
    with transaction.atomic():
        count = revoke_access_tokens(AccessToken.objects.filter(**filters))
        RefreshToken.objects.filter(revoked__isnull=True, **filters).update(revoked=timezone.now())
    return count


def revoke_code_tokens(grant_code_hash: str) -> int:
    """Revoke everything minted from one authorization code (replay, OAuth 2.1 §4.1.3).

    The access tokens bound to the code and every refresh-token family that
    started from it, with the access tokens those families minted since.
    """
    from oauth.models import AccessToken, RefreshToken

    if not grant_code_hash:
        return 0
    with transaction.atomic():
        count = revoke_access_tokens(AccessToken.objects.filter(grant_code_hash=grant_code_hash))
        families = set(
            RefreshToken.objects.filter(grant_code_hash=grant_code_hash)
            .exclude(token_family=None)
            .values_list("token_family", flat=True)
        )
        for family in families:
            RefreshToken.revoke_family(family)
        RefreshToken.objects.filter(grant_code_hash=grant_code_hash, revoked__isnull=True).update(
            revoked=timezone.now()
        )
    return count


def resync_deny_list() -> int:
    """Re-add every revoked, unexpired access token to the deny list (after a Redis loss)."""
    from oauth.models import AccessToken

    rows = AccessToken.objects.filter(revoked__isnull=False, expires__gt=timezone.now())
    entries = list(rows.values_list("jti", "expires"))
    deny(entries)
    return len(entries)
