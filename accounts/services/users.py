"""Accounts as a whole: creating them from tools (bootstrap, createuser, the demo data)
and the profile a person edits on the account page."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from audit.events import Action
from audit.services import record


def generate_password() -> str:
    """Return a random password (about 128 bits) for accounts created by tools."""
    return secrets.token_urlsafe(16)


@transaction.atomic
def ensure_user(
    *,
    email: str,
    username: str | None,
    password: str | None,
    staff: bool = False,
    superuser: bool = False,
    email_verified: bool = False,
) -> tuple[object, str | None]:
    """Create the user unless one with this e-mail exists; return it and the new password.

    The password is returned only when the account was created here (``None``
    otherwise), so the caller can show it once. An existing account is never
    modified: re-running a bootstrap must not reset what an admin changed.
    """
    User = get_user_model()
    try:
        return User.objects.get_by_login(email), None
    except User.DoesNotExist:
        pass
    password = password or generate_password()
    create = User.objects.create_superuser if superuser else User.objects.create_user
    user = create(
        email=email,
        password=password,
        username=username,
        is_staff=staff or superuser,
        email_verified=email_verified,
    )
    record(
        Action.USER_CREATED,
        target=user,
        details={"staff": user.is_staff, "superuser": user.is_superuser},
    )
    return user, password


@transaction.atomic
def create_user(
    *,
    email: str,
    username: str,
    password: str,
    staff: bool = False,
    email_verified: bool = False,
    source: str,
):
    """Create an account an operator asked for and audit it with its ``source``.

    The caller (shell access) is trusted and has checked the password against
    the policy. Raises ``IntegrityError`` or ``ValidationError`` when the
    username or e-mail is taken, also by a concurrent request.
    """
    user = get_user_model().objects.create_user(
        email=email,
        password=password,
        username=username,
        is_staff=staff,
        email_verified=email_verified,
    )
    record(
        Action.USER_CREATED,
        target=user,
        details={"source": source, "staff": user.is_staff, "email_verified": user.email_verified},
    )
    return user


@transaction.atomic
def update_profile(user, changed: list[str], *, request=None):
    """Save the ``changed`` profile fields of ``user`` (already set on it) and audit
    which ones changed, never their values.

    The caller has validated the values (``ProfileForm``) and checked that the
    person edits their own account.
    """
    if changed:
        user.save(update_fields=changed)
        record(
            Action.USER_CHANGED,
            actor=user,
            target=user,
            request=request,
            details={"fields": changed, "changed_by": "user"},
        )
    return user
