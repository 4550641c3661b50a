"""Shared argument handling of the account commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def user_from_argument(value: str):
    """The account named by a username or e-mail address, or a CommandError saying so."""
    User = get_user_model()
    try:
        return User.objects.get_by_login(value)
    except User.DoesNotExist:
        raise CommandError(f"No user with username or e-mail {value!r}.") from None
