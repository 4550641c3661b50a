"""Retention: export what is old to a file first, then remove it, keeping the trail verifiable.

Events are removed only up to a seal boundary, so the first kept seal still
chains (its ``previous_digest`` becomes the anchor) and ``audit verify`` keeps
passing. On PostgreSQL the removal runs with ``authsite.audit_retention`` set in
its transaction, the one way past the append-only trigger.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from audit import integrity
from audit.events import Action
from audit.models import CONTENT_FIELDS, AuditEvent, AuditSeal
from audit.services import record

EXPORT_FIELDS = ("id", *CONTENT_FIELDS, "nonce", "digest")


def jsonl_lines(queryset):
    """One JSON object per event, oldest first, in constant memory."""
    for row in queryset.order_by("id").values(*EXPORT_FIELDS).iterator(chunk_size=2000):
        row["occurred_at"] = row["occurred_at"].isoformat()
        row["nonce"] = str(row["nonce"])
        yield json.dumps(row, sort_keys=True, default=str) + "\n"


@dataclass
class PruneResult:
    removed: int
    path: Path | None
    up_to_id: int | None


def prune(*, older_than_days: int, export_dir: str | Path, now=None) -> PruneResult:
    """Export, then remove, sealed events older than ``older_than_days``."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=older_than_days)
    integrity.seal_events(now=now)
    newest_old = (
        AuditEvent.objects.filter(occurred_at__lt=cutoff)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if newest_old is None:
        return PruneResult(0, None, None)
    boundary = (
        AuditSeal.objects.filter(last_id__lte=newest_old)
        .order_by("-last_id")
        .values_list("last_id", flat=True)
        .first()
    )
    if boundary is None:
        return PruneResult(0, None, None)
    doomed = AuditEvent.objects.filter(id__lte=boundary)
    directory = Path(export_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"audit-up-to-{boundary}-{now:%Y%m%dT%H%M%SZ}.jsonl"
    with open(path, "x", encoding="utf-8") as fh:
        for line in jsonl_lines(doomed):
            fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL authsite.audit_retention = 'on'")
        removed, _ = doomed.delete()
        AuditSeal.objects.filter(last_id__lte=boundary).delete()
        record(
            Action.AUDIT_PRUNED,
            details={"removed": removed, "up_to_id": boundary, "export": path.name},
        )
    return PruneResult(removed, path, boundary)
