"""Revocation: PostgreSQL records it, a Redis deny list makes it fast and shared.

A revoked access token keeps its row (``revoked`` set) so the trail of issued
tokens stays complete, and its ``jti`` goes on a deny list in the shared cache
until the token's ``exp``. Every instance consults the deny list first; when
the cache is unreachable the database answers instead, so a revoked token is
never accepted and nothing fails.

This module is the mechanism; the operations that revoke (RFC 7009
revocation, code replay, ending a user's or a client's tokens) are in
``oauth/services.py``.
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
