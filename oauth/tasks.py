"""Celery tasks of the authorization server: thin, idempotent shells around services."""

from __future__ import annotations

from celery import shared_task

from oauth import services


@shared_task(name="oauth.clear_expired_tokens", acks_late=True)
def clear_expired_tokens() -> None:
    """Delete expired codes and tokens (safe to run twice or concurrently)."""
    services.clear_expired_tokens()
