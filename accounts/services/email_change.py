"""Changing the e-mail address of an account: a confirmation link to the new address,
a notice to the old one, and nothing changes until the link is opened.

A link is signed (``TimestampSigner``), nothing is stored. It carries the
account, the old and the new address and a digest of the password hash, so a
password change or reset (what the owner does after an unwanted request)
voids it, and once the address has changed it no longer applies.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts import emails
from accounts.emails import absolute_url
from accounts.exceptions import EmailChangeError
from accounts.services.passwords import verify_current_password
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings

# The ``scope`` of the ThrottledError raised after too many change requests.
EMAIL_CHANGE_SCOPE = "email_change"
EMAIL_CHANGE_SALT = "accounts.email-change"


def _email_change_state(user) -> str:
    """Ties a link to the password it was requested under: a password change or reset
    (what the owner does after an unwanted request) kills pending links."""
    return salted_hmac(EMAIL_CHANGE_SALT, f"{user.pk}:{user.password}").hexdigest()[:20]


def request_email_change(user, new_email: str, current_password: str, *, request=None) -> None:
    """Send a confirmation link to ``new_email`` and a notice to the current address.

    Nothing changes until the link is opened (ASVS 7.5.1; Keycloak
    CVE-2023-0105). The current password is required, so a borrowed session
    cannot move the account to another mailbox. An address that belongs to
    another account gets the same treatment here, so this page never reveals
    it; the confirmation then explains the problem to the address's owner.
    Raises :class:`WrongCurrentPasswordError`, :class:`EmailChangeError`
    (``same_email``) or :class:`~common.exceptions.ThrottledError` (scope
    ``password_check`` or ``email_change``).
    """
    verify_current_password(user, current_password, action=Action.EMAIL_CHANGED, request=request)
    User = get_user_model()
    new_email = User.objects.normalize_email(new_email.strip())
    if new_email.lower() == user.email.lower():
        raise EmailChangeError(
            _("This is already your e-mail address. Enter the new address you want to use."),
            code="same_email",
        )
    ratelimit.enforce(
        EMAIL_CHANGE_SCOPE,
        f"emailchange:{user.pk}",
        limit=authsite_settings.EMAIL_CHANGE_REQUESTS_PER_USER,
        window_seconds=3600,
        message=_("You asked for too many e-mail changes in a short time."),
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
    if get_user_model().objects.with_email(new_email).exclude(pk=user.pk).exists():
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
