"""accounts' expected failures: each an ``AuthsiteError`` with a stable code,
an HTTP status and a message safe to show. Throttling anywhere in accounts
raises ``common.exceptions.ThrottledError``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from common.exceptions import AuthsiteError, ThrottledError  # noqa: F401  (re-exported)


class AccountsError(AuthsiteError):
    """Base of every accounts failure."""


# --- Sign-in and multi-factor authentication ------------------------------------------


class SignInLockedError(AccountsError, PermissionDenied):
    """The source is locked (accounts/lockout.py): ``authenticate()`` stops here.

    Raised by the authentication backend, which has already recorded the failed
    sign-in (reason ``"locked"``). Being a ``PermissionDenied``, Django's
    ``authenticate()`` turns it into ``None`` without asking another backend,
    so every form shows its usual wrong-password message.
    """

    code = "sign_in_locked"
    status = 403
    message = "The username/e-mail or password is incorrect."


# (sign-in and MFA errors go here)


# --- Passwords, e-mail change and registration ----------------------------------------


# (password, e-mail change and registration errors go here)
