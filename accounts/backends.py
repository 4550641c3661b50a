"""Sign-in by username or e-mail, with equal timing for unknown accounts and brute-force locks.

Every path that calls ``authenticate()`` (the hosted sign-in page, the admin
login, the OAuth authorize login, any API) goes through this backend, so the
lockout applies to all of them alike (ASVS 6.3.4). The backend records every
failed sign-in itself (``auth.login.failed`` with the reason, and the
``failed`` login metric): it is the only place that knows why one failed.
Each attempt hashes inside one of the process's password-hash slots and holds
no database connection while it hashes (accounts/password_work.py).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from accounts import lockout
from accounts.exceptions import SignInLockedError
from accounts.password_work import password_slot, release_connection
from audit.events import Action, Outcome
from audit.services import record
from common.logging import printable
from common.metrics import logins_total
from common.net import client_ip


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        attempted = username  # as typed, for the audit trail
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not username or password is None:
            record_failed_sign_in(request, attempted, reason=lockout.BAD_CREDENTIALS)
            return None
        # One password-hash slot per attempt, taken before anything is counted: a sign-in
        # that finds none within the wait is a 503 that changed nothing (no count, no event).
        with password_slot():
            return self._authenticate(request, username, password, attempted)

    def _authenticate(self, request, username, password, attempted):
        User = get_user_model()
        try:
            user = User.objects.get_by_login(username)
        except User.DoesNotExist:
            user = None
        attempt = lockout.start_attempt(username, user, client_ip(request))
        # No pooled connection waits on the hash below; the next query takes one again.
        release_connection()
        if attempt.locked:
            # Refused without looking at the password, after the same hash as any attempt.
            User().set_password(password)
            record_failed_sign_in(request, attempted, reason=lockout.LOCKED)
            raise SignInLockedError
        if user is None:
            # Hash anyway, so an unknown account costs the same as a wrong password.
            User().set_password(password)
        # check_password re-hashes with Argon2id when the stored hash is older.
        elif user.check_password(password) and self.user_can_authenticate(user):
            lockout.record_success(attempt)
            return user
        lockout.record_failure(attempt, request=request)
        record_failed_sign_in(request, attempted, reason=lockout.BAD_CREDENTIALS)
        return None


def record_failed_sign_in(request, attempted, *, reason: str) -> None:
    """Count and audit one failed sign-in: ``reason`` is "locked" when the source was
    refused without a password check, else "bad_credentials"."""
    logins_total.labels("failed").inc()
    attempted = printable(str(attempted or ""))[:150]
    record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=None if request is None else getattr(request, "user", None),
        target=("login", attempted, attempted),
        request=request,
        details={"reason": reason, "path": request.path if request else ""},
    )
