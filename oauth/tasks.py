"""Celery tasks of the authorization server: thin, idempotent shells around services."""

from __future__ import annotations

from celery import shared_task

from oauth import keys, revocation, services


@shared_task(name="oauth.clear_expired_tokens", acks_late=True)
def clear_expired_tokens() -> None:
    """Delete expired codes and tokens (safe to run twice or concurrently)."""
    services.clear_expired_tokens()


@shared_task(name="oauth.rotate_signing_keys", acks_late=True)
def rotate_signing_keys() -> list[str]:
    """Rotate signing keys that are due and retire expired ones (safe to run often)."""
    return keys.rotate_signing_keys()


@shared_task(name="oauth.restore_deny_list", acks_late=True)
def restore_deny_list() -> str:
    """Rebuild the deny list from PostgreSQL when Redis lost it (its epoch is missing).

    Does nothing while the list is complete, or while Redis is unreachable
    (every reader falls back to the database meanwhile). Cheap to run every minute.
    """
    if revocation.deny_list_complete() is not False:
        return ""
    written = revocation.rebuild_deny_list()
    return f"deny list rebuilt: {written} revoked tokens"
