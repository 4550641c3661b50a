"""Audit events as JSON Lines or CSV text, one line per event, in constant memory.

Shared by the admin's export actions and ``manage.py audit export``. Rows come
from ``values()`` through a chunked (on PostgreSQL, server-side) cursor, oldest
first, so no model instance is built and memory does not grow with the trail.

JSON Lines is the faithful format: every value as stored, non-ASCII escaped so
that no line separator can appear inside a line. CSV is for spreadsheets: a
text cell that starts like a formula gets a leading ``'`` (OWASP CSV injection),
because labels such as a failed sign-in's attempted username are attacker input.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

from audit.models import CONTENT_FIELDS

COLUMNS = ("id", *CONTENT_FIELDS)
CHUNK_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``, as the event HMAC sees the time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_rows(queryset: QuerySet) -> Iterator[dict[str, Any]]:
    """The events of ``queryset`` in id order as plain dicts keyed by :data:`COLUMNS`."""
    rows = queryset.order_by("id").values(*COLUMNS).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        row["occurred_at"] = utc_iso(row["occurred_at"])
        yield row


def iter_jsonl(queryset: QuerySet) -> Iterator[str]:
    """One JSON object per event, each ending in ``\\n``."""
    for row in event_rows(queryset):
        yield json.dumps(row, separators=(",", ":")) + "\n"


class _Echo:
    """A file for :func:`csv.writer` whose ``write`` hands the formatted row back."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def iter_csv(queryset: QuerySet) -> Iterator[str]:
    """A header row, then one CSV row per event (RFC 4180, CRLF); ``details`` as JSON."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for row in event_rows(queryset):
        row["details"] = json.dumps(row["details"], sort_keys=True, separators=(",", ":"))
        yield writer.writerow([spreadsheet_safe(row[name]) for name in COLUMNS])
