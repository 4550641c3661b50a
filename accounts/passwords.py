"""Passwords: the policy, reset by e-mail, change, and changing the e-mail address.

The policy is length and "not known to attackers", never composition rules
(ASVS 6.2.5): a minimum and a maximum length, Django's common-password,
similarity and numeric checks, and a bundled list of breached passwords (no
network call at request time). Every validator message says what to do.

Reset never reveals whether an account exists: every request gets the same
page after the same kind of work, and rate-limited requests get it too (they
just send nothing). After a reset or a change every other session of the user
ends and :data:`accounts.signals.credentials_changed` tells oauth to revoke the
user's tokens. A reset never signs anyone in, so multi-factor authentication
still applies at the next sign-in (ASVS 6.4.3).
"""

from __future__ import annotations

import re
from functools import cache

from django.contrib.auth import get_user_model, password_validation, update_session_auth_hash
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import emails
from accounts.sessions import end_sessions
from accounts.signals import credentials_changed
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.exceptions import AuthsiteError
from common.logging import printable
from common.net import client_ip

# --- The policy ----------------------------------------------------------------------


class MaximumLengthValidator:
    """Refuse passwords longer than ``AUTHSITE_PASSWORD_MAX_LENGTH`` (4096 by default).

    Argon2 reads the whole input, so an unbounded password lets anyone make
    the server hash megabytes per request. The limit is far above anything a
    person or a password manager produces, and it is reported as a field
    error: nothing is ever silently truncated (ASVS 6.2.8, 6.2.9).
    """

    def __init__(self, max_length: int | None = None) -> None:
        self._max_length = max_length

    @property
    def max_length(self) -> int:
        return self._max_length or authsite_settings.PASSWORD_MAX_LENGTH

    def validate(self, password, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                _(
                    "This password is too long: use at most %(max_length)d characters "
                    "(it has %(length)d)."
                ),
                code="password_too_long",
                params={"max_length": self.max_length, "length": len(password)},
            )

    def get_help_text(self) -> str:
        return _("Your password can have at most %(max_length)d characters.") % {
            "max_length": self.max_length
        }


# Leading and trailing digits, punctuation and spaces: "Password123!" is "password"
# to anyone running a cracking dictionary with the usual rules.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def breached_passwords() -> frozenset[str]:
    """The ~30,000 most frequent passwords of public breach corpora, lower-cased.

    The list ships inside the ``zxcvbn`` package, so checking costs no network
    call and leaks nothing about the password to a third party.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


@cache
def _django_common_passwords() -> frozenset[str]:
    return frozenset(password_validation.CommonPasswordValidator().passwords)


class BreachedPasswordValidator:
    """Refuse passwords found in breach corpora, ignoring case and the digits or symbols
    people add around them (attackers try those variants first)."""

    def validate(self, password, user=None) -> None:
        lowered = password.lower()
        if lowered.strip() in _django_common_passwords():
            return  # CommonPasswordValidator says so already: one message is enough
        candidates = {lowered, _DECORATION.sub("", lowered)}
        if candidates & breached_passwords():
            raise ValidationError(
                _(
                    "This password appears in lists of passwords leaked from other sites "
                    "(even with the digits or symbols around it removed), so attackers try "
                    "it first. Choose another one: a few unrelated words make a strong "
                    "password that is easy to remember."
                ),
                code="password_breached",
            )

    def get_help_text(self) -> str:
        return _("It can’t be a password known from data breaches.")


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    def get_error_message(self) -> str:
        return _(
            "This password is too similar to your %(verbose_name)s. Choose one that has "
            "nothing to do with it."
        )


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def get_error_message(self) -> str:
        return _(
            "This password is one of the most common ones, so attackers try it first. "
            "Choose another one: a few unrelated words make a strong password."
        )


class NumericPasswordValidator(password_validation.NumericPasswordValidator):
    def get_error_message(self) -> str:
        return _("This password has only digits. Add some letters or words.")


# --- Errors the pages translate ------------------------------------------------------


class PasswordError(AuthsiteError):
    code = "password_error"


class InvalidResetLinkError(PasswordError):
    code = "invalid_reset_link"
    message = gettext_lazy(
        "This password reset link is invalid, has expired or was already used. "
        "Ask for a new link below."
    )


class WrongCurrentPasswordError(PasswordError):
    code = "wrong_password"
    message = gettext_lazy(
        "Your current password is not correct. Enter the password you sign in with now."
    )


class TooManyAttemptsError(PasswordError):
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class EmailChangeError(AuthsiteError):
    code = "email_change_error"


# --- Helpers -------------------------------------------------------------------------


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _wait_message(retry_after: int) -> str:
    minutes = _minutes(retry_after)
    return ngettext(
        "Try again in %(minutes)d minute.", "Try again in %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}


def absolute_url(path: str) -> str:
    """Links in e-mails point at the public URL, never at the Host header of the request
    (a forged Host would otherwise send the secret link to an attacker's site)."""
    return f"{authsite_settings.PUBLIC_URL}{path}"


def _keep_current_session(request, user) -> None:
    """Keep the session of the request that changed the password signed in.

    ``update_session_auth_hash`` stores the new hash and rotates the session
    key; the session's ``UserSession`` row follows the new key.
    """
    from accounts.models import UserSession

    old_key = request.session.session_key
    update_session_auth_hash(request, user)
    new_key = request.session.session_key
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(user=user, session_key=old_key).update(session_key=new_key)


def _too_many_wrong_passwords(user) -> ratelimit.RateLimitResult:
    return ratelimit.peek(
        f"pwcheck:{user.pk}",
        limit=authsite_settings.PASSWORD_CHECK_FAILURES_PER_USER,
        window_seconds=3600,
    )


def verify_current_password(user, password: str, *, action: str, request=None) -> None:
    """Check the password a signed-in user re-entered; raise when it is wrong.

    Failures are counted per user, so a stolen session cannot be used to
    guess the password here, and each one is audited under ``action``.
    """
    state = _too_many_wrong_passwords(user)
    if not state.allowed:
        record(
            action,
            outcome=Outcome.FAILURE,
            actor=user,
            target=user,
            request=request,
            details={"reason": "too_many_wrong_passwords"},
        )
        raise TooManyAttemptsError(
            _("You entered a wrong current password too many times.")
            + " "
            + _wait_message(state.retry_after),
            retry_after=state.retry_after,
        )
    too_long = len(password or "") > authsite_settings.PASSWORD_MAX_LENGTH
    if too_long or not user.check_password(password):
        ratelimit.hit(
            f"pwcheck:{user.pk}",
            limit=authsite_settings.PASSWORD_CHECK_FAILURES_PER_USER,
            window_seconds=3600,
        )
        record(
            action,
            outcome=Outcome.FAILURE,
            actor=user,
            target=user,
            request=request,
            details={"reason": "wrong_current_password"},
        )
        raise WrongCurrentPasswordError()


# --- Password reset ------------------------------------------------------------------


class ResetTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens, with authsite's own salt and expiry.

    A token is an HMAC over the user's password hash, last sign-in and e-mail,
    so setting a password (or signing in) spends it: it is single-use.
    """

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


def _find_active_user_by_email(email: str):
    User = get_user_model()
    return (
        User.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=email.strip().lower(), is_active=True)
        .first()
    )


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
    user = _find_active_user_by_email(typed)
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
            "valid_minutes": _minutes(authsite_settings.PASSWORD_RESET_TIMEOUT_SECONDS),
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
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not reset_tokens.check_token(user, token):  # spent by a concurrent request
            raise InvalidResetLinkError()
        user.set_password(new_password)
        user.email_verified = True
        user.save(update_fields=["password", "email_verified"])
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


def change_password(user, current_password: str, new_password: str, *, request=None) -> None:
    """Change the password of a signed-in user who proved they know the current one.

    Every other session ends and the user's tokens are revoked (ASVS 7.4.3);
    the session of ``request`` stays signed in. The caller must have checked
    that ``request.user`` is ``user``. Raises :class:`WrongCurrentPasswordError`,
    :class:`TooManyAttemptsError` or ``ValidationError`` (policy).
    """
    # Outside the transaction: a failure's audit row must survive the error.
    verify_current_password(user, current_password, action=Action.PASSWORD_CHANGED, request=request)
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
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
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
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


# --- E-mail change -------------------------------------------------------------------

EMAIL_CHANGE_SALT = "accounts.email-change"


def _email_change_state(user) -> str:
    """Ties a link to the password it was requested under: a password change or reset
    (what the owner does after an unwanted request) kills pending links."""
    return salted_hmac(EMAIL_CHANGE_SALT, f"{user.pk}:{user.password}").hexdigest()[:20]


def _is_email_taken(email: str, *, exclude_pk=None) -> bool:
    User = get_user_model()
    users = User.objects.annotate(email_lower=Lower("email")).filter(email_lower=email.lower())
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    return users.exists()


def request_email_change(user, new_email: str, current_password: str, *, request=None) -> None:
    """Send a confirmation link to ``new_email`` and a notice to the current address.

    Nothing changes until the link is opened (ASVS 7.5.1; Keycloak
    CVE-2023-0105). The current password is required, so a borrowed session
    cannot move the account to another mailbox. An address that belongs to
    another account gets the same treatment here, so this page never reveals
    it; the confirmation then explains the problem to the address's owner.
    """
    verify_current_password(user, current_password, action=Action.EMAIL_CHANGED, request=request)
    User = get_user_model()
    new_email = User.objects.normalize_email(new_email.strip())
    if new_email.lower() == user.email.lower():
        raise EmailChangeError(
            _("This is already your e-mail address. Enter the new address you want to use."),
            code="same_email",
        )
    limit = ratelimit.hit(
        f"emailchange:{user.pk}",
        limit=authsite_settings.EMAIL_CHANGE_REQUESTS_PER_USER,
        window_seconds=3600,
    )
    if not limit.allowed:
        raise EmailChangeError(
            _("You asked for too many e-mail changes in a short time.")
            + " "
            + _wait_message(limit.retry_after),
            code="too_many_requests",
        )
    token = signing.TimestampSigner(salt=EMAIL_CHANGE_SALT).sign_object(
        {"u": user.uuid.hex, "o": user.email, "n": new_email, "s": _email_change_state(user)},
        compress=True,
    )
    valid_hours = max(1, authsite_settings.EMAIL_CHANGE_TIMEOUT_SECONDS // 3600)
    display_name = user.get_short_name() or user.get_username()
    emails.send(
        "email_change_confirm",
        to=new_email,
        context={
            "confirm_url": absolute_url(
                reverse("accounts:email-change-confirm", kwargs={"token": token})
            ),
            "old_email": user.email,
            "new_email": new_email,
            "valid_hours": valid_hours,
            "display_name": display_name,
        },
    )
    emails.send(
        "email_change_notice",
        to=user.email,
        context={
            "old_email": user.email,
            "new_email": new_email,
            "display_name": display_name,
            "password_change_url": absolute_url(reverse("accounts:password-change")),
        },
    )
    record(
        Action.EMAIL_CHANGE_REQUESTED,
        actor=user,
        target=user,
        request=request,
        details={"new_email_domain": new_email.rpartition("@")[2]},
    )


def read_email_change(token: str, *, lock: bool = False) -> tuple[object, str]:
    """Return (user, new address) for a valid, unused e-mail change link.

    Raises :class:`EmailChangeError` with a message saying what to do. With
    ``lock`` the user row is locked (inside the caller's transaction).
    """
    User = get_user_model()
    try:
        payload = signing.TimestampSigner(salt=EMAIL_CHANGE_SALT).unsign_object(
            token, max_age=authsite_settings.EMAIL_CHANGE_TIMEOUT_SECONDS
        )
    except signing.SignatureExpired:
        raise EmailChangeError(
            _(
                "This confirmation link has expired. Sign in and ask for the e-mail change "
                "again to get a new link."
            ),
            code="expired",
        ) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise EmailChangeError(_invalid_email_link_message(), code="invalid_link") from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(k), str) for k in ("u", "o", "n", "s")
    ):
        raise EmailChangeError(_invalid_email_link_message(), code="invalid_link")
    users = User.objects.select_for_update() if lock else User.objects
    user = users.filter(uuid=payload["u"], is_active=True).first()
    if user is None or user.email != payload["o"] or payload["s"] != _email_change_state(user):
        raise EmailChangeError(_invalid_email_link_message(), code="invalid_link")
    return user, payload["n"]


def _invalid_email_link_message() -> str:
    return _(
        "This confirmation link is invalid or was already used. If your e-mail address "
        "has not changed yet, sign in and ask for the change again."
    )


def _taken_message(email: str) -> str:
    return _(
        "The address %(email)s is already used by another account, so it cannot be added "
        "to this one. Sign in to that account instead, or choose a different address."
    ) % {"email": email}


def confirm_email_change(token: str, *, request=None):
    """Apply a confirmed e-mail change; the link works once.

    The change applies only while the account still has the address the
    link was issued for, so a spent link (or one for an address changed
    since) fails. The new address is verified by this very click.
    """
    user, new_email = read_email_change(token)
    if _is_email_taken(new_email, exclude_pk=user.pk):
        record(
            Action.EMAIL_CHANGED,
            outcome=Outcome.FAILURE,
            actor=user,
            target=user,
            request=request,
            details={"reason": "address_taken"},
        )
        raise EmailChangeError(_taken_message(new_email), code="email_taken")
    try:
        with transaction.atomic():
            user, new_email = read_email_change(token, lock=True)  # once, even when raced
            old_email = user.email
            user.email = new_email
            user.email_verified = True
            user.save(update_fields=["email", "email_verified"])
            record(
                Action.EMAIL_CHANGED,
                actor=user,
                target=user,
                request=request,
                details={"old_email": old_email, "new_email": new_email},
            )
    except IntegrityError:  # the address was taken between the check and the write
        raise EmailChangeError(_taken_message(new_email), code="email_taken") from None
    return user
