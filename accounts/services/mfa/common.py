"""What the three factors share: enrolment state, the sign-in methods, secrets, limits.

Re-authentication before changing MFA data (ASVS 7.5.1) is the one current-password
check of accounts, ``accounts.services.passwords.verify_current_password``.

How a sign-in is described (RFC 8176 ``amr``; oauth/claims.py derives ``acr``):
password + TOTP or a recovery code → ``["pwd", "otp"]`` (a recovery code is a
one-time password; the audit trail tells them apart); password + security key
→ ``["pwd", "hwk"]``; a passkey alone, with user verification (PIN or
biometric on the device) → ``["hwk", "mfa"]``. Each gives ``acr`` "2".

TOTP secrets are stored encrypted (Fernet, key derived by HKDF from
``AUTHSITE_MFA_ENCRYPTION_SECRET`` or ``SECRET_KEY``); recovery codes are
stored as HMACs keyed the same way.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts import signals
from accounts.models import RecoveryCode, TOTPDevice, WebAuthnCredential
from accounts.sessions import AMR_KEY, end_sessions
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.exceptions import ThrottledError
from common.net import client_ip

# RFC 8176 method names, recorded in the session and carried into ID tokens.
AMR_TOTP = ["pwd", "otp"]
AMR_RECOVERY_CODE = ["pwd", "otp"]
AMR_SECURITY_KEY = ["pwd", "hwk"]
AMR_PASSKEY = ["hwk", "mfa"]
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk", "mfa"})

# The WebAuthn challenge in flight; a new pending sign-in drops it (pending.py).
CHALLENGE_KEY = "authsite_mfa_challenge"


# --- enrolment state ---


def has_mfa(user) -> bool:
    """Whether sign-in asks this user for a second factor."""
    if user is None or not getattr(user, "pk", None):
        return False
    return (
        TOTPDevice.objects.filter(user=user, confirmed__isnull=False).exists()
        or WebAuthnCredential.objects.filter(user=user).exists()
    )


def session_used_second_factor(session) -> bool:
    return bool(SECOND_FACTOR_METHODS.intersection(session.get(AMR_KEY) or []))


def note_second_factor(session, methods: list[str]) -> None:
    """Add ``methods`` to the session's sign-in record (the user just proved a factor)."""
    current = list(session.get(AMR_KEY) or ["pwd"])
    session[AMR_KEY] = current + [m for m in methods if m not in current]


def after_factor_removed(user, method: str, request) -> None:
    """Removing a factor is a credential change, so it ends the user's tokens; with no
    factor left, the recovery codes go too (they would be a factor on their own)."""
    if not has_mfa(user):
        RecoveryCode.objects.filter(user=user).delete()
    record(
        Action.MFA_RESET,
        actor=user,
        target=user,
        request=request,
        details={"method": method, "mfa_left": has_mfa(user)},
    )
    signals.credentials_changed.send(
        sender=get_user_model(), user=user, request=request, reason="mfa_removed"
    )
    # Sessions elsewhere may belong to whoever made removing the factor worth it (ASVS 7.4.3).
    session = getattr(request, "session", None)
    end_sessions(user, keep=getattr(session, "session_key", None))


# --- secrets at rest ---


def secrets_for_keys() -> list[bytes]:
    """The dedicated secret, or SECRET_KEY followed by its fallbacks (for rotation)."""
    dedicated = authsite_settings.MFA_ENCRYPTION_SECRET
    if dedicated:
        return [dedicated.encode()]
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [key.encode() for key in keys if key]


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def _fernet() -> MultiFernet:
    """Encrypts with the current secret, decrypts with any (SECRET_KEY_FALLBACKS)."""
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(derive_key(s, b"authsite mfa secrets")))
            for s in secrets_for_keys()
        ]
    )


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str | None:
    """The plaintext, or None when no configured secret opens it."""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except (InvalidToken, ValueError):
        return None


# --- attempts ---


MFA_THROTTLE_SCOPE = "mfa"  # ThrottledError.scope of a refused second-factor attempt
TOO_MANY_ATTEMPTS = _("Too many attempts.")


def check_attempt(user, ip: str) -> None:
    """Count one second-factor attempt; raise once the user or the address is over the limit."""
    window = authsite_settings.MFA_ATTEMPT_WINDOW_SECONDS
    checks = [
        (f"mfa-user:{user.pk}", authsite_settings.MFA_ATTEMPTS_PER_USER),
        (f"mfa-ip:{ip}", authsite_settings.MFA_ATTEMPTS_PER_IP),
    ]
    for key, limit in checks:
        ratelimit.enforce(
            MFA_THROTTLE_SCOPE, key, limit=limit, window_seconds=window, message=TOO_MANY_ATTEMPTS
        )


def count_attempt(request, user, method: str) -> None:
    """Count one second-factor attempt from this request; a refused one is audited."""
    try:
        check_attempt(user, client_ip(request) or "")
    except ThrottledError:
        record_failed(user, method, request, reason="throttled")
        raise


def forget_attempts(user) -> None:
    ratelimit.reset(f"mfa-user:{user.pk}")


def record_failed(user, method: str, request, *, reason: str = "wrong") -> None:
    record(
        Action.MFA_FAILED,
        outcome=Outcome.FAILURE,
        actor=user,
        target=user,
        request=request,
        details={"method": method, "reason": reason},
    )
