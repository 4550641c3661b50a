"""Authenticator apps (TOTP, RFC 6238): enrolment, removal and the sign-in step.

160-bit secret, SHA-1, 6 digits, 30 s steps; one step of clock drift either
way is accepted, and a step is accepted once: the conditional UPDATE on
``last_used_step`` makes a replayed (or parallel) code lose. The secret is
stored encrypted (common.py); while being set up it waits, encrypted, in the
session, so a reload of the setup page shows the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pyotp
import segno

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.exceptions import InvalidCodeError
from accounts.models import TOTPDevice
from accounts.services.mfa.common import (
    AMR_TOTP,
    after_factor_removed,
    count_attempt,
    decrypt,
    encrypt,
    note_second_factor,
    record_failed,
)
from accounts.services.mfa.pending import Pending, finish_sign_in
from accounts.services.sign_in import SignInResult
from audit.events import Action
from audit.services import record
from common.conf import authsite_settings

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
TOTP_SECRET_CHARS = 32  # base32: 32 × 5 = 160 bits (RFC 4226 §4 recommends 160)

TOTP_SETUP_KEY = "authsite_mfa_totp_setup"
_SETUP_SECONDS = 3600


def confirmed_totp(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed__isnull=False).first()


def new_totp_secret() -> str:
    return pyotp.random_base32(length=TOTP_SECRET_CHARS)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL, digest=hashlib.sha1)


def provisioning_uri(user, secret: str) -> str:
    return _totp(secret).provisioning_uri(
        name=user.get_username(), issuer_name=authsite_settings.SITE_NAME
    )


def qr_svg(data: str) -> str:
    """An inline ``<svg>`` QR code, rendered here: the secret never leaves the server."""
    return segno.make(data, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def clean_otp(value: str) -> str:
    return "".join(value.split()).replace("-", "")


def matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step (±1, RFC 6238 §5.2) whose code is ``code``, compared in constant time."""
    code = clean_otp(code)
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    now = totp.timecode(at if at is not None else time.time())
    found = None
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def use_totp(user, code: str) -> bool:
    """Accept a code once: a step at or before the last accepted one is a replay."""
    device = confirmed_totp(user)
    if device is None:
        return False
    secret = decrypt(device.secret_encrypted)
    step = matching_step(secret, code) if secret else None
    if step is None:
        return False
    # Atomic: of two requests carrying the same code, exactly one updates the row.
    return bool(
        TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step)
    )


# --- enrolment ---


def pending_setup_secret(session) -> str | None:
    """The secret being set up in this session, while it is recent."""
    stored = session.get(TOTP_SETUP_KEY)
    if isinstance(stored, dict) and time.time() - stored.get("at", 0) < _SETUP_SECONDS:
        return decrypt(stored.get("secret", ""))
    return None


def setup_secret(session) -> str:
    """The secret being set up, or a new one kept (encrypted) in the session until confirmed."""
    secret = pending_setup_secret(session)
    if secret is None:
        secret = new_totp_secret()
        session[TOTP_SETUP_KEY] = {"secret": encrypt(secret), "at": int(time.time())}
    return secret


@transaction.atomic
def confirm_totp(user, secret: str, code: str, *, request=None) -> bool:
    """Store the device when ``code`` matches ``secret``; replaces an earlier device.

    The confirming step is recorded as used, so the same code cannot sign in.
    The caller has checked the current password.
    """
    step = matching_step(secret, code)
    if step is None:
        return False
    TOTPDevice.objects.update_or_create(
        user=user,
        defaults={
            "secret_encrypted": encrypt(secret),
            "confirmed": timezone.now(),
            "last_used_step": step,
        },
    )
    record(
        Action.MFA_ENROLLED, actor=user, target=user, request=request, details={"method": "totp"}
    )
    return True


def confirm_totp_setup(request, secret: str, code: str) -> bool:
    """Enrol the signed-in user's app when ``code`` matches the secret being set up.

    The session then counts as having used a second factor (the code proved
    the app). The caller has checked the current password.
    """
    if not confirm_totp(request.user, secret, code, request=request):
        return False
    request.session.pop(TOTP_SETUP_KEY, None)
    note_second_factor(request.session, ["otp"])
    return True


@transaction.atomic
def remove_totp(user, *, request=None) -> bool:
    deleted, _count = TOTPDevice.objects.filter(user=user).delete()
    if deleted:
        after_factor_removed(user, "totp", request)
    return bool(deleted)


# --- the sign-in step ---


def sign_in_with_totp(request, pending: Pending, code: str) -> SignInResult:
    """The second step of a sign-in with the authenticator app's code.

    Raises ``ThrottledError`` past the attempt limits and ``InvalidCodeError``
    for a wrong or replayed code; both are audited.
    """
    user = pending.user
    count_attempt(request, user, "totp")
    if not use_totp(user, code):
        record_failed(user, "totp", request)
        raise InvalidCodeError(
            _("That code is not valid or was already used. Enter the code the app shows now.")
        )
    return finish_sign_in(request, pending, methods=AMR_TOTP, method="totp")
