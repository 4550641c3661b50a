"""The base of authsite's typed errors.

Every expected failure of a service is an :class:`AuthsiteError` subclass from
its app's ``exceptions.py``, carrying a stable ``code``, the HTTP ``status`` an
edge should answer with, and a ``message`` safe to show to the person who made
the request. Views translate them at the edge: form errors and branded pages
for people, JSON for machines, and RFC error codes on OAuth endpoints.
"""

from __future__ import annotations

from django.utils.translation import ngettext


class AuthsiteError(Exception):
    """An expected failure with a stable ``code``, an HTTP ``status`` and a user-safe message."""

    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(self.message)


def minutes_to_wait(seconds: int) -> int:
    """``seconds`` as whole minutes, rounded up and at least one (what a person is told)."""
    return max(1, -(-int(seconds) // 60))


def try_again_message(retry_after: int) -> str:
    """ "Try again in N minutes." for a :class:`ThrottledError`'s ``retry_after``: the one
    wording of every wait a page shows."""
    minutes = minutes_to_wait(retry_after)
    return ngettext(
        "Try again in %(minutes)d minute.", "Try again in %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}


class ThrottledError(AuthsiteError):
    """Too many attempts in the limiter's window: the one throttle error of every app.

    ``retry_after`` is whole seconds until the caller may try again (for a
    ``Retry-After`` header and the message); ``scope`` names the limit that refused.
    :meth:`waiting` builds one whose message says why and how long to wait;
    ``common.ratelimit.enforce`` raises that.
    """

    code = "throttled"
    status = 429
    message = "Too many attempts. Please wait a while and try again."

    def __init__(
        self, message: str | None = None, *, retry_after: int = 0, scope: str = "", **kwargs
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(0, int(retry_after))
        self.scope = scope

    @classmethod
    def waiting(cls, reason: str, *, retry_after: int, scope: str) -> ThrottledError:
        """``reason`` followed by "Try again in N minutes.": what a person is shown."""
        return cls(
            f"{reason} {try_again_message(retry_after)}", retry_after=retry_after, scope=scope
        )


class BusyError(AuthsiteError):
    """The server is at a capacity bound it keeps on purpose (not broken): answer 503.

    Raised when work that must be bounded per process (password hashing) found no
    free slot within its wait; ``retry_after`` is the seconds a client should wait.
    The request changed nothing, so a retry is safe.
    """

    code = "temporarily_unavailable"
    status = 503
    message = "The service is busy. Please try again in a few seconds."

    def __init__(self, message: str | None = None, *, retry_after: int = 5, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))
