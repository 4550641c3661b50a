"""accounts' expected failures: each an ``AuthsiteError`` with a stable code,
an HTTP status and a message safe to show. Throttling anywhere in accounts
raises ``common.exceptions.ThrottledError``."""

from __future__ import annotations

from common.exceptions import AuthsiteError, ThrottledError  # noqa: F401  (re-exported)


class AccountsError(AuthsiteError):
    """Base of every accounts failure."""


# --- Sign-in and multi-factor authentication ------------------------------------------


# (sign-in and MFA errors go here)


# --- Passwords, e-mail change and registration ----------------------------------------


# (password, e-mail change and registration errors go here)
