"""rbac's errors: each an ``AuthsiteError`` with a stable code, an HTTP status and a
message safe to show (the RBAC issue adds the operations that raise them)."""

from __future__ import annotations

from common.exceptions import AuthsiteError


class RbacError(AuthsiteError):
    """Base of every roles-and-permissions failure."""
