"""Celery tasks of the authorization server: thin, idempotent shells around services."""

from __future__ import annotations

from celery import shared_task

from oauth import keys, services


@shared_task(name="oauth.clear_expired_tokens", acks_late=True)
def clear_expired_tokens() -> None:
    """Delete expired codes and tokens (safe to run twice or concurrently)."""
    services.clear_expired_tokens()


@shared_task(name="oauth.rotate_signing_keys", acks_late=True)
def rotate_signing_keys() -> list[str]:
    """Rotate signing keys that are due and retire expired ones (safe to run often)."""
    return keys.rotate_signing_keys()
