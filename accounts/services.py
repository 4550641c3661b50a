"""Account operations shared by views, the API and management commands."""

from __future__ import annotations

import secrets
import unicodedata

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.http import url_has_allowed_host_and_scheme

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


def get_safe_next_url(value: str | None, *, host: str, require_https: bool) -> str | None:
    """Return ``value`` when it is a path on this site, otherwise ``None``.

    ``next`` arrives from anyone, so an unchecked redirect would make the sign-in
    page an open redirector for phishing. Only absolute paths pass: not other
    hosts, not ``//host`` (scheme-relative), not backslashes (browsers read
    ``/\\host`` as ``//host``) and not control or format characters (which some
    browsers strip before parsing).
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(unicodedata.category(char)[0] == "C" for char in value):
        return None
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={host}, require_https=require_https
    ):
        return None
    return value
