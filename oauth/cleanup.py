"""Deleting expired codes and tokens in short transactions while the server runs.

django-oauth-toolkit's ``clear_expired`` counts the whole expired set before
and after every batch (a full scan each time at millions of rows), and with
authsite's settings (refresh lifetimes are per client, not DOT's
``REFRESH_TOKEN_EXPIRE_SECONDS``) it never deletes a refresh token at all,
so neither the refresh tokens nor the access tokens they hold ever went.

:func:`clear_expired_tokens` walks each table by primary-key range instead:
every batch is one short transaction over at most ``batch_size`` ids (an
index range, however many rows are expired), with ``lock_timeout`` so it
never queues behind a request for long; a range whose rows are locked is left
for the next run. Order follows the foreign keys, as DOT's does:

1. refresh tokens past their own expiry (idle: ``created`` + the client's idle
   lifetime; absolute: the family's start + the client's absolute lifetime,
   the rules oauth/validators.py enforces), first unlinking the access tokens
   minted from them (``source_refresh_token``, SET_NULL in the model);
   revoked ones go at the same point, so a replay is recognised as long as
   the token could have been valid;
2. access tokens past ``expires`` that no refresh token holds;
3. ID tokens past ``expires`` that no access token holds (an access token
   cascades from its ID token, so these go after);
4. authorization codes past ``expires`` (kept after redemption until then, to
   recognise a replay).

Safe to run twice or concurrently, and while tokens are issued: a row is
deleted only once no check would accept it any more.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from oauth2_provider.models import (
    clear_expired,
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from common.conf import authsite_settings

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# No batch waits longer than this for a row lock a request holds; it is skipped instead.
LOCK_TIMEOUT = "500ms"


@dataclass
class CleanupReport:
    """What one run deleted per kind, and its longest batch transaction in seconds."""

    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    skipped_batches: int = 0
    longest_batch_seconds: float = 0.0


def _tables() -> dict[str, str]:
    models = {
        "access": get_access_token_model(),
        "refresh": get_refresh_token_model(),
        "id": get_id_token_model(),
        "grant": get_grant_model(),
        "application": get_application_model(),
    }
    return {name: connection.ops.quote_name(m._meta.db_table) for name, m in models.items()}


def _statements(now: datetime) -> list[tuple[str, str, dict]]:
    """(kind, table, SQL deleting expired rows with ids in [%(lo)s, %(hi)s)), in FK order."""
    t = _tables()
    params = {
        "now": now,
        "idle": authsite_settings.REFRESH_TOKEN_IDLE_LIFETIME_SECONDS,
        "absolute": authsite_settings.REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS,
    }
    refresh = f"""
        WITH doomed AS (
            SELECT r.id FROM {t["refresh"]} r
            JOIN {t["application"]} a ON a.id = r.application_id
            WHERE r.id >= %(lo)s AND r.id < %(hi)s
              AND (r.created + make_interval(
                       secs => COALESCE(NULLIF(a.refresh_token_idle_lifetime_seconds, 0),
                                        %(idle)s)) <= %(now)s
                   OR COALESCE(r.family_started, r.created) + make_interval(
                       secs => COALESCE(NULLIF(a.refresh_token_absolute_lifetime_seconds, 0),
                                        %(absolute)s)) <= %(now)s)
            FOR UPDATE OF r
        ), unlinked AS (
            UPDATE {t["access"]} SET source_refresh_token_id = NULL
            WHERE source_refresh_token_id IN (SELECT id FROM doomed)
        )
        DELETE FROM {t["refresh"]} WHERE id IN (SELECT id FROM doomed)
    """
    access = f"""
        DELETE FROM {t["access"]} x
        WHERE x.id >= %(lo)s AND x.id < %(hi)s AND x.expires < %(now)s
          AND NOT EXISTS (SELECT 1 FROM {t["refresh"]} r WHERE r.access_token_id = x.id)
    """
    id_token = f"""
        DELETE FROM {t["id"]} i
        WHERE i.id >= %(lo)s AND i.id < %(hi)s AND i.expires < %(now)s
          AND NOT EXISTS (SELECT 1 FROM {t["access"]} x WHERE x.id_token_id = i.id)
    """
    grant = f"""
        DELETE FROM {t["grant"]} g
        WHERE g.id >= %(lo)s AND g.id < %(hi)s AND g.expires < %(now)s
    """
    return [
        ("refresh_tokens", t["refresh"], refresh, params),
        ("access_tokens", t["access"], access, params),
        ("id_tokens", t["id"], id_token, params),
        ("grants", t["grant"], grant, params),
    ]


def clear_expired_tokens(*, now=None, batch_size: int = BATCH_SIZE) -> CleanupReport:
    """Delete every expired code and token, ``batch_size`` ids per short transaction."""
    now = now or timezone.now()
    report = CleanupReport()
    if connection.vendor != "postgresql":  # the embedded SQLite mode: DOT's way is fine there
        clear_expired()
        return report
    for kind, table, sql, params in _statements(now):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(id), max(id) FROM {table}")
            low, high = cursor.fetchone()
        deleted = 0
        if low is not None:
            for lo in range(low, high + 1, batch_size):
                started = time.perf_counter()
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                        cursor.execute(sql, {**params, "lo": lo, "hi": lo + batch_size})
                        deleted += max(cursor.rowcount, 0)
                except OperationalError as exc:  # a lock timeout: leave the range for next time
                    report.skipped_batches += 1
                    logger.warning("token clean-up skipped ids %s+ of %s (%s)", lo, kind, exc)
                    continue
                finally:
                    report.batches += 1
                    report.longest_batch_seconds = max(
                        report.longest_batch_seconds, time.perf_counter() - started
                    )
        report.deleted[kind] = deleted
        logger.info("%s expired %s deleted", deleted, kind)
    return report
