"""audit's errors.

Recording has no failure a caller is expected to handle: a database error
propagates (no event, no operation), and an action outside the catalogue is a
programming error that must surface in tests, never be swallowed.
"""

from __future__ import annotations

from common.exceptions import AuthsiteError


class AuditError(AuthsiteError):
    """Base of every audit failure."""

    status = 500


class UnknownActionError(AuditError, ValueError):
    """``record()`` was given an action that is not in ``audit.events.Action``."""

    code = "unknown_audit_action"
    message = "The audit action is not in the catalogue."
