"""Remembered consent: asked once per user, client and exact set of scopes."""

from __future__ import annotations

from oauth.models import Consent


def scope_key(scopes) -> str:
    return " ".join(sorted(set(scopes)))


def is_remembered(user, application, scopes) -> bool:
    """First-party clients never ask; others ask until this exact scope set was approved."""
    if application.first_party:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return Consent.objects.filter(
        user=user, application=application, scope=scope_key(scopes)
    ).exists()


def remember(user, application, scopes) -> None:
    Consent.objects.get_or_create(user=user, application=application, scope=scope_key(scopes))


def forget(user, application) -> int:
    """Withdraw every consent the user gave the client (the account page calls this)."""
    deleted, _ = Consent.objects.filter(user=user, application=application).delete()
    return deleted
