"""The base of authsite's typed errors.

Services raise subclasses of :class:`AuthsiteError`; views translate them at
the edge (form errors, DRF responses, or RFC error codes on OAuth endpoints).
"""

from __future__ import annotations


class AuthsiteError(Exception):
    """An expected failure with a stable ``code`` and a message safe to show."""

    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(self.message)
