"""Passwords: reset by e-mail, change, an operator's new password, and the one check of
the current password a signed-in user re-enters to confirm an action.

Reset never reveals whether an account exists: every request gets the same
page after the same kind of work, and rate-limited requests get it too (they
just send nothing). After a reset or a change every other session of the user
ends and :data:`accounts.signals.credentials_changed` tells oauth to revoke the
user's tokens. A reset never signs anyone in, so multi-factor authentication
still applies at the next sign-in (ASVS 6.4.3). The policy itself is
:mod:`accounts.validators`.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation, update_session_auth_hash
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts import emails, password_work
from accounts.emails import absolute_url
from accounts.exceptions import (
    InvalidResetLinkError,
    ThrottledError,
    WrongCurrentPasswordError,
)
from accounts.models import UserSession
from accounts.sessions import end_sessions
from accounts.signals import credentials_changed
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.exceptions import minutes_to_wait
from common.logging import printable
from common.net import client_ip

# The ``scope`` of the ThrottledError raised after too many wrong current passwords.
PASSWORD_CHECK_SCOPE = "password_check"


# --- The current password ------------------------------------------------------------


def _password_check_key(user) -> str:
    return f"pwcheck:{user.pk}"


def verify_current_password(user, password: str, *, action: str, request=None) -> None:
    """Check the password a signed-in user re-entered to confirm ``action``; raise when wrong.

    Failures are counted per user (``AUTHSITE_PASSWORD_CHECK_FAILURES_PER_USER``
    an hour), so a stolen session cannot be used to guess the password here,
    and each one is audited under ``action``. An over-long password is never
    hashed. Raises :class:`WrongCurrentPasswordError`, or
    :class:`~common.exceptions.ThrottledError` (scope ``password_check``)
    once the user had too many wrong ones.
    """
    limit = authsite_settings.PASSWORD_CHECK_FAILURES_PER_USER
    state = ratelimit.peek(_password_check_key(user), limit=limit, window_seconds=3600)
    if not state.allowed:
        _record_failed_check(user, action, request, reason="too_many_wrong_passwords")
        raise ThrottledError.waiting(
            _("You entered a wrong current password too many times."),
            retry_after=state.retry_after,
            scope=PASSWORD_CHECK_SCOPE,
        )
    too_long = len(password or "") > authsite_settings.PASSWORD_MAX_LENGTH
    if too_long or not password_work.check_password(user, password):
        ratelimit.hit(_password_check_key(user), limit=limit, window_seconds=3600)
        _record_failed_check(user, action, request, reason="wrong_current_password")
        raise WrongCurrentPasswordError()


def _record_failed_check(user, action: str, request, *, reason: str) -> None:
    record(
        action,
        outcome=Outcome.FAILURE,
        actor=user,
        target=user,
        request=request,
        details={"reason": reason},
    )


# --- Password reset ------------------------------------------------------------------


class ResetTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens, with authsite's own salt and expiry.

    A token is an HMAC over the user's password hash, last sign-in and e-mail,
    so setting a password (or signing in) spends it: it is single-use.
    """

    # The module's old dotted path, kept: a new salt would void every link sent already.
    key_salt = "accounts.passwords.ResetTokenGenerator"

    def check_token(self, user, token) -> bool:
        if not super().check_token(user, token):
            return False
        issued = base36_to_int(token.split("-")[0])
        age = self._num_seconds(self._now()) - issued
        return age <= authsite_settings.PASSWORD_RESET_TIMEOUT_SECONDS


reset_tokens = ResetTokenGenerator()

# Token placeholder in the URL once the real token has moved to the session.
RESET_URL_TOKEN = "set-password"
RESET_SESSION_KEY = "authsite_password_reset_token"


def encode_uid(user) -> str:
    """The public uuid, never the row id, identifies the account in a reset link."""
    return urlsafe_base64_encode(force_bytes(user.uuid.hex))


def user_from_uid(uidb64: str):
    """The active user a reset link names, or ``None``."""
    User = get_user_model()
    try:
        public_id = force_str(urlsafe_base64_decode(uidb64))
        return User.objects.filter(uuid=public_id, is_active=True).first()
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None


def get_reset_user(uidb64: str, token: str | None):
    """The user whose reset link this is, if the token is still valid; else ``None``."""
    user = user_from_uid(uidb64)
    if user is None or not token or not reset_tokens.check_token(user, token):
        return None
    return user


def _dummy_user():
    """A user that is never saved: an unknown address costs the same token work."""
    User = get_user_model()
    return User(pk=0, email="nobody@invalid", password="!")


def request_password_reset(email: str, *, request=None) -> None:
    """Send a reset link when an active account uses ``email``; otherwise send nothing.

    The caller shows the same "check your e-mail" page whatever happens here,
    and both paths do the same work (lookup, two counters, a token, an audit
    row), so neither the page nor its timing says whether the account exists.
    The mail goes to the stored address, never to the typed one (Django
    CVE-2019-19844). Beyond the per-address or per-IP limit nothing is sent.
    """
    typed = printable(email or "")[:254]
    ip = client_ip(request) or "unknown"
    window = authsite_settings.PASSWORD_RESET_REQUEST_WINDOW_SECONDS
    by_ip = ratelimit.hit(
        f"pwreset-ip:{ip}",
        limit=authsite_settings.PASSWORD_RESET_REQUESTS_PER_IP,
        window_seconds=window,
    )
    by_address = ratelimit.hit(
        f"pwreset-address:{typed.strip().lower()}",
        limit=authsite_settings.PASSWORD_RESET_REQUESTS_PER_ADDRESS,
        window_seconds=window,
    )
    user = get_user_model().objects.with_email(typed).filter(is_active=True).first()
    token = reset_tokens.make_token(user or _dummy_user())
    if user is None:
        record(
            Action.PASSWORD_RESET_REQUESTED,
            outcome=Outcome.FAILURE,
            actor=getattr(request, "user", None),
            target=("email", typed, typed),
            request=request,
            details={"reason": "unknown_address"},
        )
        return
    if not (by_ip.allowed and by_address.allowed):
        record(
            Action.PASSWORD_RESET_REQUESTED,
            outcome=Outcome.FAILURE,
            actor=getattr(request, "user", None),
            target=user,
            request=request,
            details={"reason": "rate_limited", "limit": "ip" if not by_ip.allowed else "address"},
        )
        return
    path = reverse(
        "accounts:password-reset-confirm", kwargs={"uidb64": encode_uid(user), "token": token}
    )
    emails.send(
        "password_reset",
        to=user.email,
        context={
            "reset_url": absolute_url(path),
            "valid_minutes": minutes_to_wait(authsite_settings.PASSWORD_RESET_TIMEOUT_SECONDS),
            "display_name": user.get_short_name() or user.get_username(),
        },
    )
    record(
        Action.PASSWORD_RESET_REQUESTED,
        actor=getattr(request, "user", None),
        target=user,
        request=request,
    )


def _notify_password_changed(user, *, reason: str) -> None:
    emails.send(
        "password_changed_notice",
        to=user.email,
        context={
            "reason": reason,
            "display_name": user.get_short_name() or user.get_username(),
            "reset_url": absolute_url(reverse("accounts:password-reset")),
        },
    )


def reset_password(uidb64: str, token: str, new_password: str, *, request=None):
    """Set a new password through a reset link; end every session and token of the user.

    Raises :class:`InvalidResetLinkError` for a bad, expired or spent link and
    ``ValidationError`` when the password breaks the policy. The user is not
    signed in: the next sign-in goes through every factor the account has.
    Opening the link proves the user reads that mailbox, so the address
    counts as verified.
    """
    User = get_user_model()
    user = get_reset_user(uidb64, token)
    if user is None:
        record(
            Action.PASSWORD_RESET_COMPLETED,
            outcome=Outcome.FAILURE,
            actor=getattr(request, "user", None),
            target=user_from_uid(uidb64),
            request=request,
            details={"reason": "invalid_link"},
        )
        raise InvalidResetLinkError()
    password_validation.validate_password(new_password, user)
    hashed = password_work.hash_password(new_password)  # before the transaction
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not reset_tokens.check_token(user, token):  # spent by a concurrent request
            raise InvalidResetLinkError()
        user.password = hashed
        user.email_verified = True
        user.save(update_fields=["password", "email_verified"])
        password_validation.password_changed(new_password, user)
        # The session of this request is left in place (deleting it under the
        # response would fail its save); if it was signed in as this user, the
        # new password hash signs it out at its next request.
        session = getattr(request, "session", None)
        _after_password_set(
            user,
            request,
            keep=session.session_key if session is not None else None,
            action=Action.PASSWORD_RESET_COMPLETED,
            reason="reset",
        )
    return user


def _store_password(user, hashed: str, raw_password: str) -> None:
    """Save a password hashed beforehand, as ``set_password`` + ``save`` would (the
    validators' ``password_changed`` hook included)."""
    user.password = hashed
    user.save(update_fields=["password"])
    password_validation.password_changed(raw_password, user)


def _after_password_set(user, request, *, keep: str | None, action: str, reason: str) -> None:
    """What every new password brings: other sessions end, tokens are revoked (through
    ``credentials_changed``), the event is audited and the owner is told by e-mail."""
    ended = end_sessions(user, keep=keep)
    credentials_changed.send(
        sender=type(user),
        user=user,
        request=request,
        reason="password_reset" if reason == "reset" else "password_changed",
    )
    record(action, actor=user, target=user, request=request, details={"sessions_ended": ended})
    _notify_password_changed(user, reason=reason)


# --- Password change -----------------------------------------------------------------


def _keep_current_session(request, user) -> None:
    """Keep the session of the request that changed the password signed in.

    ``update_session_auth_hash`` stores the new hash and rotates the session
    key; the session's ``UserSession`` row follows the new key.
    """
    old_key = request.session.session_key
    update_session_auth_hash(request, user)
    new_key = request.session.session_key
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(user=user, session_key=old_key).update(session_key=new_key)


def change_password(user, current_password: str, new_password: str, *, request=None) -> None:
    """Change the password of a signed-in user who proved they know the current one.

    Every other session ends and the user's tokens are revoked (ASVS 7.4.3);
    the session of ``request`` stays signed in. The caller must have checked
    that ``request.user`` is ``user``. Raises :class:`WrongCurrentPasswordError`,
    :class:`~common.exceptions.ThrottledError` or ``ValidationError`` (policy).
    """
    # Outside the transaction: a failure's audit row must survive the error.
    verify_current_password(user, current_password, action=Action.PASSWORD_CHANGED, request=request)
    password_validation.validate_password(new_password, user)
    hashed = password_work.hash_password(new_password)  # before the transaction
    with transaction.atomic():
        _store_password(user, hashed, new_password)
        keep = None
        if request is not None and hasattr(request, "session"):
            _keep_current_session(request, user)
            keep = request.session.session_key
        _after_password_set(
            user, request, keep=keep, action=Action.PASSWORD_CHANGED, reason="change"
        )


def set_password_for_user(user, new_password: str, *, source: str) -> int:
    """Set a password an operator chose (``manage.py changepassword``); return sessions ended.

    What any new password brings follows: every session of the user ends, their
    tokens are revoked (``credentials_changed``), the change is audited with
    its ``source`` and the owner is told by e-mail. The caller (shell access)
    is trusted; the policy still applies. Raises ``ValidationError`` (policy).
    """
    password_validation.validate_password(new_password, user)
    hashed = password_work.hash_password(new_password)
    with transaction.atomic():
        _store_password(user, hashed, new_password)
        ended = end_sessions(user)
        credentials_changed.send(
            sender=type(user), user=user, request=None, reason="password_changed"
        )
        record(
            Action.PASSWORD_CHANGED,
            target=user,
            details={"source": source, "sessions_ended": ended},
        )
        _notify_password_changed(user, reason="change")
    return ended
