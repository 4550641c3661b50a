"""Celery tasks of the audit trail: thin shells around integrity and retention."""

from __future__ import annotations

from celery import shared_task

from audit import integrity, retention
from common.conf import authsite_settings


@shared_task(name="audit.seal_events", acks_late=True)
def seal_events() -> None:
    """Seal what is old enough (one seal at a time, safe to run concurrently)."""
    integrity.seal_events()


@shared_task(name="audit.prune_events", acks_late=True)
def prune_events() -> None:
    """Export, then remove, events past the retention period."""
    retention.prune(
        older_than_days=authsite_settings.AUDIT_RETENTION_DAYS,
        export_dir=authsite_settings.AUDIT_EXPORT_DIR,
    )
