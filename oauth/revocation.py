"""Revocation: PostgreSQL records it, a Redis deny list makes it fast and shared.

A revoked access token keeps its row (``revoked`` set) so the trail of issued
tokens stays complete, and its ``jti`` goes on a deny list in the shared cache
until the token's ``exp``. Every instance consults the deny list first; when
the cache is unreachable the database answers instead, so a revoked token is
never accepted and nothing fails.

The deny list is only trusted when it is known to be complete. Redis may lose
its data (a restart without persistence, a flush, an eviction); a missing jti
then proves nothing. So an *epoch* key is written once the list has been
rebuilt from PostgreSQL (:func:`rebuild_deny_list`), and :func:`is_denied`
reads the jti and the epoch in one round trip (``MGET``): no epoch means
"cannot tell", and the caller reads the row. The periodic job
``oauth.restore_deny_list`` rebuilds the list within a minute of a loss.

This module is the mechanism; the operations that revoke (RFC 7009
revocation, code replay, ending a user's or a client's tokens) are in
``oauth/services.py``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from django_redis import get_redis_connection
from oauth2_provider.models import get_access_token_model

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from common.logging import log_dependency_failure
from oauth.exceptions import DenyListRebuildInterrupted

logger = logging.getLogger(__name__)

DENY_LIST_PREFIX = "authsite:denied-jti:"
# Present (value: when it was written, Unix seconds) only while the deny list is complete.
DENY_LIST_EPOCH_KEY = "authsite:deny-list-epoch"
# Set when a rebuild starts; a flush or restart during the rebuild removes it, and the
# epoch is then not written (the batches written before the loss are gone too).
REBUILD_MARKER_KEY = "authsite:deny-list-rebuilding"
REBUILD_MARKER_SECONDS = 3600
REBUILD_BATCH_SIZE = 1000
# Kept on the list this long past the token's exp: covers clock skew between instances.
EXPIRY_MARGIN_SECONDS = 60

# Deny writes that failed in this process, written again before the next deny-list access.
_pending: dict[uuid.UUID, datetime] = {}
_pending_lock = threading.Lock()
MAX_PENDING = 100_000

# KEYS: marker, epoch. ARGV: the rebuild's marker value, the epoch value.
_SET_EPOCH_IF_MARKER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[2], ARGV[2])
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
"""


def _key(jti) -> str:
    return f"{DENY_LIST_PREFIX}{jti}"


def deny_list_keys(jti) -> list[str]:
    """The raw Redis keys of ``jti``'s deny-list entry and of the epoch, in that order.

    For a client that talks to Redis directly (the async fast path): ``MGET``
    them and pass the values to :func:`interpret`. They include django-redis's
    ``KEY_PREFIX`` and version (``cache.make_key``), so both sides agree.
    """
    return [str(cache.make_key(_key(jti))), str(cache.make_key(DENY_LIST_EPOCH_KEY))]


def interpret(values: Sequence[bytes | None]) -> bool | None:
    """What an ``MGET`` of :func:`deny_list_keys` means.

    True: denied. False: not denied, and the list is complete. None: not on
    the list but the list may be incomplete, so the caller must read the row:
    no epoch (Redis lost its data and the rebuild has not finished), or this
    process holds deny writes that failed (:func:`deny` and :func:`is_denied`
    write them again once the cache answers).
    """
    denied, epoch = values
    if denied is not None:
        return True
    if epoch is None or _pending:
        return None
    return False


def deny(entries: Iterable[tuple[uuid.UUID, datetime]]) -> bool:
    """Put (jti, expires) pairs on the deny list; return False if the cache is unreachable.

    A failed write is kept in this process and written again before its next
    deny-list read or write (see :func:`is_denied`), and the epoch is dropped
    if the cache still accepts that, so the list never vouches for itself
    while it misses a revoked jti that this process knows about.
    """
    entries = list(entries)
    try:
        _write_pending()
        _write(entries)
    except Exception as exc:  # the database still records the revocation
        log_dependency_failure(
            logger,
            "deny list write",
            "deny list unavailable, revocation recorded in the database only: %r",
            exc,
        )
        _remember(entries)
        _forget_epoch()
        return False
    return True


def is_denied(jti) -> bool | None:
    """True if ``jti`` is on the deny list, False if not, None if the list cannot tell.

    None when the cache is unreachable, when this process still holds deny
    writes that failed, or when the list is not known complete (no epoch): the
    caller then reads the PostgreSQL row. One round trip when all is well.
    """
    key = _key(jti)
    try:
        if _pending:
            _write_pending()
        found = cache.get_many([key, DENY_LIST_EPOCH_KEY])
    except Exception as exc:  # Redis down, slow or its breaker open
        log_dependency_failure(
            logger, "deny list read", "deny list unavailable, falling back to the database: %r", exc
        )
        return None
    return interpret([found.get(key), found.get(DENY_LIST_EPOCH_KEY)])


def deny_list_complete() -> bool | None:
    """True if the epoch is present, False if it is missing, None if the cache is unreachable."""
    try:
        return cache.get(DENY_LIST_EPOCH_KEY) is not None
    except Exception as exc:
        log_dependency_failure(
            logger, "deny list read", "deny list unavailable, falling back to the database: %r", exc
        )
        return None


def rebuild_deny_list(*, batch_size: int = REBUILD_BATCH_SIZE) -> int:
    """Write every revoked, unexpired access token's jti from PostgreSQL, then the epoch.

    Reads in primary-key batches (no long transaction, bounded memory) and
    writes each batch in one pipeline. Revocations committed meanwhile deny
    themselves as usual. The epoch is written only if the rebuild's marker
    survived, so a flush during the rebuild leaves the list marked incomplete.
    Returns how many tokens were written. Raises if the cache is unreachable.
    """
    model = get_access_token_model()
    marker = secrets.randbits(62)  # an int: django-redis stores it as is, Lua compares it
    cache.set(REBUILD_MARKER_KEY, marker, timeout=REBUILD_MARKER_SECONDS)
    now = timezone.now()
    written, last_pk = 0, 0
    while True:
        rows = list(
            model.objects.filter(revoked__isnull=False, expires__gt=now, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "jti", "expires")[:batch_size]
        )
        if not rows:
            break
        _write((jti, expires) for _, jti, expires in rows)
        written += len(rows)
        last_pk = rows[-1][0]
    if not _set_epoch(marker):
        raise DenyListRebuildInterrupted()
    logger.info("deny list rebuilt from the database: %d revoked tokens", written)
    return written


def _write(entries: Iterable[tuple[uuid.UUID, datetime]]) -> None:
    """SET each jti with a TTL reaching past its token's exp, in one round trip on Redis."""
    now = timezone.now()
    pending = []
    for jti, expires in entries:
        ttl = int((expires - now).total_seconds()) + EXPIRY_MARGIN_SECONDS
        if ttl > 0:
            pending.append((_key(jti), ttl))
    if not pending:
        return
    client = _raw_client()
    if client is None:  # a cache without pipelines (local memory in development)
        for key, ttl in pending:
            cache.set(key, 1, timeout=ttl)
        return
    pipeline = client.pipeline(transaction=False)
    for key, ttl in pending:
        pipeline.set(cache.make_key(key), 1, ex=ttl)  # django-redis stores ints as is
    pipeline.execute()


def _remember(entries: list[tuple[uuid.UUID, datetime]]) -> None:
    now = timezone.now()
    with _pending_lock:
        for jti, expires in entries:
            if expires > now:
                _pending[jti] = expires
        if len(_pending) > MAX_PENDING:  # expired ones no longer matter
            for jti, expires in list(_pending.items()):
                if expires <= now:
                    del _pending[jti]


def _write_pending() -> None:
    """Write the deny entries this process failed to write; raise if the cache still fails."""
    with _pending_lock:
        entries = list(_pending.items())
    if not entries:
        return
    _write(entries)
    with _pending_lock:
        for jti, expires in entries:
            if _pending.get(jti) == expires:
                del _pending[jti]
    logger.info("deny list: %d revocations written after the cache came back", len(entries))


def _set_epoch(marker: int) -> bool:
    epoch = int(time.time())
    client = _raw_client()
    if client is None:
        if cache.get(REBUILD_MARKER_KEY) != marker:
            return False
        cache.set(DENY_LIST_EPOCH_KEY, epoch, timeout=None)
        cache.delete(REBUILD_MARKER_KEY)
        return True
    keys = [cache.make_key(REBUILD_MARKER_KEY), cache.make_key(DENY_LIST_EPOCH_KEY)]
    return bool(client.eval(_SET_EPOCH_IF_MARKER, 2, *keys, marker, epoch))


def _forget_epoch() -> None:
    """A jti could not be written: the list is no longer complete. Best effort (the write
    just failed, so this usually fails too; see docs/architecture.md)."""
    try:
        cache.delete(DENY_LIST_EPOCH_KEY)
    except Exception:  # already logged by the failed write
        pass


def _raw_client():
    """django-redis's raw client, or None for a cache backend that is not Redis."""
    try:
        return get_redis_connection("default")
    except NotImplementedError:
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
