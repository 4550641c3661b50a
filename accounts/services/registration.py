"""Self-service registration, e-mail verification and invitations.

The mode (``AUTHSITE_REGISTRATION_MODE``) decides who may register. A new
account starts unverified and gets a verification link; OAuth authorization
waits until it is used (oauth/views.py). Registering with an address that
already has an account looks exactly the same to the person registering; the
owner of the address gets a "someone tried to register" notice instead, so the
form never says which addresses have accounts.

Links are signed with ``TimestampSigner``, nothing is stored:

* a verification link carries the account's uuid, its e-mail and its verified
  state; once used the state differs, so the link stops working (single use),
  and a changed e-mail voids older links;
* an invitation carries the invited e-mail; it stops working once an account
  with that e-mail exists.

Following the verification link in the browser that registered signs the
person in (:func:`complete_verification`).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts import emails, password_work
from accounts.emails import absolute_url
from accounts.exceptions import (
    InvitationError,
    RegistrationClosedError,
    VerificationLinkError,
)
from accounts.services.sign_in import complete_sign_in
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.net import client_ip

logger = logging.getLogger(__name__)

VERIFY_SALT = "accounts.verify-email"
INVITE_SALT = "accounts.invite"

# Session key: the account this browser just registered (see ``remember_registration``).
SESSION_KEY = "accounts.registration"


def _normalise_email(email: str) -> str:
    return get_user_model().objects.normalize_email((email or "").strip())


def _user_with_email(email: str):
    return get_user_model().objects.with_email(email).first()


def check_ip_limit(scope: str, request) -> None:
    """Count one attempt from the request's address; past the limit raise
    :class:`~common.exceptions.ThrottledError` with ``scope``."""
    ratelimit.enforce(
        scope,
        f"{scope}:{client_ip(request) or 'unknown'}",
        limit=authsite_settings.REGISTRATION_LIMIT_PER_IP,
        window_seconds=authsite_settings.REGISTRATION_LIMIT_WINDOW_SECONDS,
        message=_("Too many requests came from your network."),
    )


def may_email(address: str) -> bool:
    """Count one registration e-mail to ``address``; False once it had its share.

    Callers answer the same either way (the page must not say whether an e-mail
    went out), so the limit protects the mailbox without revealing anything.
    """
    return ratelimit.hit(
        f"register-mail:{address.lower()}",
        limit=authsite_settings.REGISTRATION_EMAILS_PER_ADDRESS,
        window_seconds=authsite_settings.REGISTRATION_LIMIT_WINDOW_SECONDS,
    ).allowed


# --- invitations ----------------------------------------------------------------------


def make_invitation(email: str, *, invited_by=None) -> str:
    """Return an absolute registration link only ``email`` can use, until its account exists.

    The caller decides who may invite (an admin, ``manage.py invite``).
    """
    email = _normalise_email(email)
    payload = {"e": email.lower(), "by": str(invited_by.uuid) if invited_by else ""}
    token = signing.TimestampSigner(salt=INVITE_SALT).sign_object(payload, compress=True)
    record(
        Action.ADMIN_ACTION,
        actor=invited_by,
        target=("invitation", email.lower(), email),
        details={"operation": "invitation.created"},
    )
    return absolute_url(f"{reverse('accounts:register')}?invitation={token}")


def send_invitation(email: str, *, invited_by=None) -> str:
    """E-mail an invitation to ``email`` (after commit) and return its link."""
    link = make_invitation(email, invited_by=invited_by)
    emails.send(
        "invitation",
        to=_normalise_email(email),
        context={
            "link": link,
            "invited_by": str(invited_by) if invited_by else "",
            "valid_days": max(1, authsite_settings.INVITATION_MAX_AGE_SECONDS // 86400),
        },
    )
    return link


def check_invitation(token: str) -> str:
    """Return the e-mail an invitation is for, or raise ``InvitationError`` saying why not."""
    signer = signing.TimestampSigner(salt=INVITE_SALT)
    try:
        payload = signer.unsign_object(
            token or "", max_age=authsite_settings.INVITATION_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        raise InvitationError(
            _("This invitation has expired. Ask whoever invited you for a new one."),
            code="invitation_expired",
        ) from None
    except (signing.BadSignature, ValueError, UnicodeError):
        raise InvitationError(
            _("This invitation link is not valid. Copy the whole link from the invitation."),
            code="invitation_invalid",
        ) from None
    email = payload.get("e", "") if isinstance(payload, dict) else ""
    if not email:
        raise InvitationError(_("This invitation link is not valid."), code="invitation_invalid")
    if _user_with_email(email) is not None:
        raise InvitationError(
            _("This invitation has already been used. Sign in with the account it created."),
            code="invitation_used",
        )
    return email


# --- registration ---------------------------------------------------------------------


def register(
    email: str,
    username: str | None,
    password: str,
    *,
    invitation=None,
    next_url: str | None = None,
    request,
):
    """Create an unverified account and e-mail its verification link; return the user.

    When the address already has an account, nothing is created, the owner is
    told that someone tried, and ``None`` is returned: the caller must respond
    exactly as for a new account. Either way the request's session remembers
    the registration and ``next_url`` (:func:`remember_registration`). The
    password is hashed in both cases so the timing is the same too. The caller
    has validated the form (password strength, ``normalise_username``).
    Raises ``RegistrationClosedError``, ``InvitationError``, ``ThrottledError``
    (per address of the requester), or ``ValidationError`` (username taken).
    """
    mode = authsite_settings.REGISTRATION_MODE
    if mode == "closed":
        raise RegistrationClosedError(_("Registration is closed."))
    email = _normalise_email(email)
    if mode == "invite":
        invited = check_invitation(invitation or "")
        if invited != email.lower():
            raise InvitationError(
                _("This invitation is for another e-mail address. Register with that one."),
                code="invitation_other_email",
            )
    check_ip_limit("register-ip", request)

    hashed = password_work.hash_password(password)
    # Checked before the address, for every address: answering "username taken" only
    # when the address is new would tell which addresses have accounts.
    if username and get_user_model().objects.with_username(username).exists():
        raise ValidationError(
            {"username": _("This username is taken. Choose another, or leave it empty.")},
            code="username_taken",
        )
    existing = _user_with_email(email)
    if existing is None:
        try:
            with transaction.atomic():
                user = _create_user(email, username, hashed, mode=mode, request=request)
        except IntegrityError:  # registered by a parallel request a moment ago
            existing = _user_with_email(email)
            if existing is None:
                raise
        else:
            remember_registration(request.session, user, next_url=next_url)
            return user
    _notify_owner(existing, request=request)
    remember_registration(request.session, None, next_url=next_url)
    return None


def _create_user(email: str, username: str | None, hashed: str, *, mode: str, request):
    User = get_user_model()
    user = User(email=email, username=username or None, email_verified=False)
    user.password = hashed
    user.full_clean(exclude=["password"])
    user.save()
    record(
        Action.USER_REGISTERED,
        actor=user,
        target=user,
        request=request,
        details={"mode": mode},
    )
    send_verification_email(user)
    return user


def _notify_owner(user, *, request) -> None:
    record(
        Action.USER_REGISTERED,
        outcome=Outcome.FAILURE,
        target=user,
        request=request,
        details={"reason": "email_taken"},
    )
    if may_email(user.email):
        emails.send(
            "registration_attempt",
            to=user.email,
            context={
                "login_url": absolute_url(reverse("accounts:login")),
                "reset_url": absolute_url(_password_reset_path()),
            },
        )


def _password_reset_path() -> str:
    try:
        return reverse("accounts:password-reset")
    except NoReverseMatch:  # the password area is optional to this module
        return reverse("accounts:login")


def remember_registration(session, user, *, next_url: str | None) -> None:
    """Note in this browser's session which account it registered (and where to go next),
    so following the link in the same browser signs the person in.

    For an address that already had an account ``user`` is ``None`` and a random
    value is stored, so the session looks the same either way.
    """
    session[SESSION_KEY] = {
        "uuid": str(user.uuid) if user is not None else secrets.token_hex(16),
        "next": next_url or "",
    }


# --- verification ---------------------------------------------------------------------


def make_verification_link(user) -> str:
    """Return the absolute verification link for the user's current e-mail."""
    payload = {"u": str(user.uuid), "e": user.email.lower(), "v": bool(user.email_verified)}
    token = signing.TimestampSigner(salt=VERIFY_SALT).sign_object(payload)
    return absolute_url(reverse("accounts:verify", args=[token]))


def send_verification_email(user) -> bool:
    """E-mail a fresh verification link (after commit); False when the address had its share."""
    if not may_email(user.email):
        return False
    max_age = authsite_settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS
    emails.send(
        "verify_email",
        to=user.email,
        context={
            "link": make_verification_link(user),
            "valid_hours": max(1, max_age // 3600),
            "username": user.username or "",
        },
    )
    return True


def check_verification_token(token: str):
    """Return the user a link would verify, without using it; raise ``VerificationLinkError``.

    ``code`` is ``expired``, ``used`` or ``invalid``; failures are audited.
    """
    signer = signing.TimestampSigner(salt=VERIFY_SALT)
    try:
        payload = signer.unsign_object(
            token or "", max_age=authsite_settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        payload = _payload_ignoring_age(signer, token)
        user = _user_by_uuid(payload.get("u")) if payload else None
        _record_failure(user, "expired")
        raise VerificationLinkError(
            _("This verification link has expired. Ask for a new one below."), code="expired"
        ) from None
    except (signing.BadSignature, ValueError, UnicodeError):
        _record_failure(None, "invalid")
        raise VerificationLinkError(
            _(
                "This verification link is not valid. Copy the whole link from the e-mail, "
                "or ask for a new one below."
            ),
            code="invalid",
        ) from None
    if not isinstance(payload, dict):
        payload = {}
    user = _user_by_uuid(payload.get("u"))
    if user is None or not user.is_active or user.email.lower() != payload.get("e"):
        _record_failure(user, "invalid")
        raise VerificationLinkError(
            _("This verification link is not valid. Ask for a new one below."), code="invalid"
        )
    if user.email_verified != payload.get("v"):
        raise VerificationLinkError(
            _("This link has already been used: your e-mail address is verified. Sign in."),
            code="used",
        )
    return user


def _user_by_uuid(value):
    try:
        return get_user_model().objects.filter(uuid=uuid.UUID(str(value))).first()
    except (TypeError, ValueError):
        return None


def _payload_ignoring_age(signer, token):
    try:
        payload = signer.unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _record_failure(user, reason: str) -> None:
    record(
        Action.EMAIL_VERIFIED,
        outcome=Outcome.FAILURE,
        target=user if user is not None else ("user", "", "unknown"),
        details={"reason": reason},
    )


def verify(token: str):
    """Mark the e-mail of the link's account verified and return the account.

    Raises ``VerificationLinkError`` (``expired``, ``used``, ``invalid``); the
    failure is audited outside the transaction, so it is kept. The row is
    locked, so two clicks at once verify (and audit) once.
    """
    user = check_verification_token(token)
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        if not locked.email_verified and locked.email.lower() == user.email.lower():
            locked.email_verified = True
            locked.save(update_fields=["email_verified"])
            record(Action.EMAIL_VERIFIED, actor=locked, target=locked, details={"via": "link"})
            return locked
    raise VerificationLinkError(
        _("This link has already been used: your e-mail address is verified. Sign in."),
        code="used",
    )


def resend_verification(
    *, email: str | None = None, user=None, next_url: str | None = None, request
) -> bool:
    """Send a new verification link to ``user``, or to the unverified account of ``email``.

    Returns whether one was sent; for an anonymous request the caller must
    answer the same either way (unknown address, verified account, or the
    address had its share of e-mails). When a link went to the signed-in
    ``user``, the session remembers it with ``next_url``, so following it in
    this browser leads on. Raises ``ThrottledError`` when the requester's
    address is over its limit.
    """
    check_ip_limit("verify-resend-ip", request)
    if user is None:
        user = _user_with_email(_normalise_email(email or "")) if email else None
        remember = False
    else:
        remember = True
    if user is None or user.email_verified or not user.is_active:
        return False
    sent = send_verification_email(user)
    if sent and remember:
        remember_registration(request.session, user, next_url=next_url)
    return sent


@dataclass(frozen=True)
class Verification:
    """What following a verification link did in this browser.

    ``next_url`` is the ``next`` stored when this browser registered the
    account (unchecked: the caller checks it before redirecting), else empty.
    """

    user: object
    was_signed_in: bool
    signed_in: bool
    next_url: str


def complete_verification(token: str, *, request) -> Verification:
    """Use a verification link (:func:`verify`); sign the person in when this browser
    registered the account and nobody is signed in.

    The browser proves it registered the account through the session noted by
    :func:`remember_registration` (the password was typed there a moment ago).
    Raises ``VerificationLinkError``.
    """
    user = verify(token)
    pending = request.session.pop(SESSION_KEY, None) or {}
    same_browser = pending.get("uuid") == str(user.uuid)
    stored_next = (pending.get("next") or "") if same_browser else ""
    if request.user.is_authenticated and request.user.pk == user.pk:
        return Verification(user, was_signed_in=True, signed_in=True, next_url=stored_next)
    if same_browser and not request.user.is_authenticated:
        _sign_in_registered_user(request, user)
        return Verification(user, was_signed_in=False, signed_in=True, next_url=stored_next)
    return Verification(user, was_signed_in=False, signed_in=False, next_url=stored_next)


def _sign_in_registered_user(request, user) -> None:
    """Sign in the account this browser just registered and verified (with its password)."""
    complete_sign_in(
        request, user, methods=["pwd"], remember=None, backend=settings.AUTHENTICATION_BACKENDS[0]
    )
