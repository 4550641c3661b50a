"""Sign-in by username or e-mail, with equal timing for unknown accounts and brute-force locks.

Every path that calls ``authenticate()`` (the hosted sign-in page, the admin
login, the OAuth authorize login, any API) goes through this backend, so the
lockout applies to all of them alike (ASVS 6.3.4).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import lockout
from common.net import client_ip


class SignInLocked(PermissionDenied):
    """The source is locked: ``authenticate()`` stops here and reports a failed sign-in.

    Django turns it into ``None`` plus ``user_login_failed``, so every form shows
    its usual wrong-password message; the reason ("locked") reaches the audit
    receiver through :func:`accounts.lockout.pop_refusal`.
    """


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not username or password is None:
            return None
        User = get_user_model()
        lockout.note_refusal(None)
        try:
            user = User.objects.get_by_login(username)
        except User.DoesNotExist:
            user = None
        attempt = lockout.start_attempt(username, user, client_ip(request))
        if attempt.locked:
            # Refused without looking at the password, after the same hash as any attempt.
            User().set_password(password)
            lockout.note_refusal(lockout.LOCKED)
            raise SignInLocked
        if user is None:
            # Hash anyway, so an unknown account costs the same as a wrong password.
            User().set_password(password)
        # check_password re-hashes with Argon2id when the stored hash is older.
        elif user.check_password(password) and self.user_can_authenticate(user):
            lockout.record_success(attempt)
            return user
        lockout.record_failure(attempt, request=request)
        return None
