"""Multi-factor authentication: TOTP, recovery codes, WebAuthn, and the pending sign-in.

Plain functions used by the hosted pages (accounts/views/mfa.py), the sign-in
step (accounts/views/signin.py) and the admin site (accounts/admin_site.py).

* TOTP (RFC 6238): 160-bit secret, SHA-1, 6 digits, 30 s steps; one step of
  clock drift either way is accepted, and a step is accepted once: the
  conditional UPDATE on ``last_used_step`` makes a replayed (or parallel)
  code lose. The secret is stored encrypted (Fernet, key derived by HKDF).
* Recovery codes: 10 single-use codes of 50 random bits, shown once, stored as
  HMAC-SHA256 (per-code salt, key derived like the TOTP key), so a database
  dump alone cannot be brute-forced offline.
* WebAuthn (``webauthn`` package): security keys and passkeys as a second
  factor, and passkeys as a passwordless first factor. Challenges live in the
  session and are popped before verification (single use).

How a sign-in is described (RFC 8176 ``amr``; oauth/claims.py derives ``acr``):
password + TOTP or a recovery code → ``["pwd", "otp"]`` (a recovery code is a
one-time password; the audit trail tells them apart); password + security key
→ ``["pwd", "hwk"]``; a passkey alone, with user verification (PIN or
biometric on the device) → ``["hwk", "mfa"]``. Each gives ``acr`` "2".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import signals
from accounts.models import RecoveryCode, TOTPDevice, WebAuthnCredential
from accounts.sessions import AMR_KEY
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
TOTP_SECRET_CHARS = 32  # base32: 32 × 5 = 160 bits (RFC 4226 §4 recommends 160)
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_CHARS = 10  # base32: 50 bits each, shown as xxxxx-xxxxx
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# RFC 8176 method names, recorded in the session and carried into ID tokens.
AMR_TOTP = ["pwd", "otp"]
AMR_RECOVERY_CODE = ["pwd", "otp"]
AMR_SECURITY_KEY = ["pwd", "hwk"]
AMR_PASSKEY = ["hwk", "mfa"]
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk", "mfa"})

PENDING_KEY = "authsite_mfa_pending"
TOTP_SETUP_KEY = "authsite_mfa_totp_setup"
NEW_RECOVERY_CODES_KEY = "authsite_mfa_new_recovery_codes"
_CHALLENGE_KEY = "authsite_mfa_challenge"
_CHALLENGE_SECONDS = 300


class MFAError(Exception):
    """A second factor was refused; ``message`` is safe to show."""

    def __init__(self, message: str, *, code: str = "invalid", retry_after: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


def throttled(retry_after: int) -> MFAError:
    minutes = max(1, -(-retry_after // 60))
    return MFAError(
        f"Too many attempts. Wait {minutes} minute{'s' if minutes != 1 else ''} and try again.",
        code="throttled",
        retry_after=retry_after,
    )


# --- encryption ---


def _secrets() -> list[bytes]:
    """The dedicated secret, or SECRET_KEY followed by its fallbacks (for rotation)."""
    dedicated = authsite_settings.MFA_ENCRYPTION_SECRET
    if dedicated:
        return [dedicated.encode()]
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [key.encode() for key in keys if key]


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def _fernet() -> MultiFernet:
    """Encrypts with the current secret, decrypts with any (SECRET_KEY_FALLBACKS)."""
    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(_derive(s, b"authsite mfa secrets"))) for s in _secrets()]
    )


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str | None:
    """The plaintext, or None when no configured secret opens it."""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except (InvalidToken, ValueError):
        return None


# --- enrolment state ---


def confirmed_totp(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed__isnull=False).first()


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


# --- TOTP ---


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


@transaction.atomic
def remove_totp(user, *, request=None) -> bool:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    if deleted:
        _after_removal(user, "totp", request)
    return bool(deleted)


def _after_removal(user, method: str, request) -> None:
    """Removing a factor ends the user's tokens (A32); with no factor left, the
    recovery codes go too (they would be a factor on their own)."""
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
    from accounts.sessions import end_sessions

    session = getattr(request, "session", None)
    end_sessions(user, keep=getattr(session, "session_key", None))


# --- recovery codes ---


def _code_hash(code: str, salt: str, secret: bytes) -> str:
    key = _derive(secret, b"authsite recovery codes")
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def _normalise_recovery_code(value: str) -> str:
    return "".join(value.split()).replace("-", "").upper()


@transaction.atomic
def generate_recovery_codes(user, *, request=None) -> list[str]:
    """Replace every recovery code of ``user`` with new ones; return them (show once)."""
    RecoveryCode.objects.filter(user=user).delete()
    secret = _secrets()[0]
    codes, rows = [], []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_CHARS))
        salt = secrets.token_hex(8)
        rows.append(
            RecoveryCode(user=user, code_hash=f"hmac-sha256${salt}${_code_hash(raw, salt, secret)}")
        )
        codes.append(f"{raw[:5]}-{raw[5:]}".lower())
    RecoveryCode.objects.bulk_create(rows)
    record(
        Action.MFA_ENROLLED,
        actor=user,
        target=user,
        request=request,
        details={"method": "recovery_codes", "count": RECOVERY_CODE_COUNT},
    )
    return codes


def unused_recovery_codes(user) -> int:
    return RecoveryCode.objects.filter(user=user, used__isnull=True).count()


def use_recovery_code(user, value: str) -> bool:
    """Accept an unused code once (conditional UPDATE: a parallel second use loses)."""
    code = _normalise_recovery_code(value)
    if len(code) != RECOVERY_CODE_CHARS or any(c not in _BASE32 for c in code):
        return False
    match = None
    for row in RecoveryCode.objects.filter(user=user, used__isnull=True):
        _, salt, stored = row.code_hash.split("$", 2)
        for secret in _secrets():
            if hmac.compare_digest(_code_hash(code, salt, secret), stored):
                match = row
    if match is None:
        return False
    return bool(
        RecoveryCode.objects.filter(pk=match.pk, used__isnull=True).update(used=timezone.now())
    )


# --- WebAuthn ---


def rp_id() -> str:
    return urlsplit(authsite_settings.PUBLIC_URL).hostname or "localhost"


def expected_origin() -> str:
    parts = urlsplit(authsite_settings.PUBLIC_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _store_challenge(session, purpose: str, challenge: bytes, **extra) -> None:
    session[_CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
        **extra,
    }


def _pop_challenge(session, purpose: str) -> dict:
    stored = session.pop(_CHALLENGE_KEY, None)
    if (
        not isinstance(stored, dict)
        or stored.get("purpose") != purpose
        or time.time() - stored.get("at", 0) > _CHALLENGE_SECONDS
    ):
        raise MFAError(
            "This request has expired. Start again with the button on the page.", code="challenge"
        )
    return stored


def _descriptors(user) -> list[PublicKeyCredentialDescriptor]:
    result = []
    for cred in WebAuthnCredential.objects.filter(user=user):
        transports = []
        for name in cred.transports or []:
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue
        result.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(cred.credential_id), transports=transports or None
            )
        )
    return result


def registration_options(session, user, *, name: str) -> str:
    """Options for ``navigator.credentials.create`` (JSON); a passkey is preferred."""
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=authsite_settings.SITE_NAME,
        user_id=user.uuid.bytes,
        user_name=user.get_username(),
        user_display_name=user.get_full_name() or user.get_username(),
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    _store_challenge(session, "register", options.challenge, user=user.pk, name=name)
    return options_to_json(options)


def _parse(body) -> dict:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise MFAError("The request was not valid JSON.", code="bad_request") from None
    if not isinstance(body, dict):
        raise MFAError("The request was not a JSON object.", code="bad_request")
    return body


@transaction.atomic
def register_credential(session, user, body, *, request=None) -> WebAuthnCredential:
    """Verify the authenticator's answer to the stored challenge and keep the credential."""
    credential = _parse(body)
    stored = _pop_challenge(session, "register")
    if stored.get("user") != user.pk:
        raise MFAError("This request has expired. Start again.", code="challenge")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(stored["challenge"]),
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise MFAError(
            "The security key's answer could not be verified. Try again.", code="invalid"
        ) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnCredential.objects.filter(credential_id=credential_id).exists():
        raise MFAError("This security key is already registered.", code="duplicate")
    response = credential.get("response") if isinstance(credential.get("response"), dict) else {}
    transports = [
        t
        for t in response.get("transports") or []
        if t in {a.value for a in AuthenticatorTransport}
    ]
    extensions = credential.get("clientExtensionResults")
    cred_props = extensions.get("credProps") if isinstance(extensions, dict) else None
    row = WebAuthnCredential.objects.create(
        user=user,
        name=(stored.get("name") or "Security key")[:100],
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        discoverable=bool(isinstance(cred_props, dict) and cred_props.get("rk") is True),
    )
    record(
        Action.MFA_ENROLLED,
        actor=user,
        target=user,
        request=request,
        details={"method": "webauthn", "name": row.name},
    )
    return row


def authentication_options(session, user=None) -> str:
    """Options for ``navigator.credentials.get``: the user's keys, or any passkey."""
    if user is None:
        options = generate_authentication_options(
            rp_id=rp_id(), user_verification=UserVerificationRequirement.REQUIRED
        )
        _store_challenge(session, "passkey", options.challenge)
    else:
        options = generate_authentication_options(
            rp_id=rp_id(),
            allow_credentials=_descriptors(user),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        _store_challenge(session, "second-factor", options.challenge, user=user.pk)
    return options_to_json(options)


def authenticate_credential(session, body, user=None) -> WebAuthnCredential:
    """Verify an assertion; as a second factor for ``user``, or passwordless when None.

    Passwordless sign-in requires user verification (the device's PIN or
    biometric): the passkey is then both factors. The signature counter must
    grow when the authenticator keeps one (a cloned key is refused).
    """
    credential = _parse(body)
    stored = _pop_challenge(session, "passkey" if user is None else "second-factor")
    if user is not None and stored.get("user") != user.pk:
        raise MFAError("This request has expired. Start again.", code="challenge")
    refused = MFAError("The security key or passkey was not accepted.", code="invalid")
    cred_id = credential.get("id")
    if not isinstance(cred_id, str) or len(cred_id) > 1400:
        raise refused
    rows = WebAuthnCredential.objects.select_related("user").filter(credential_id=cred_id)
    if user is not None:
        rows = rows.filter(user=user)
    row = rows.first()
    if row is None or not row.user.is_active:
        raise refused
    if user is None:
        handle = (credential.get("response") or {}).get("userHandle")
        if handle and handle != bytes_to_base64url(row.user.uuid.bytes):
            raise refused
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(stored["challenge"]),
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=bytes(row.public_key),
            credential_current_sign_count=row.sign_count,
            require_user_verification=user is None,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise refused from exc
    # Conditional: a parallel use of the same assertion (same counter) loses.
    updated = WebAuthnCredential.objects.filter(pk=row.pk, sign_count=row.sign_count).update(
        sign_count=verified.new_sign_count, last_used=timezone.now()
    )
    if not updated:
        raise refused
    return row


@transaction.atomic
def remove_credential(user, credential: WebAuthnCredential, *, request=None) -> None:
    credential.delete()
    _after_removal(user, "webauthn", request)


# --- the pending sign-in (password accepted, second factor not yet) -----------------------


@dataclass(frozen=True)
class Pending:
    user: object
    next_url: str
    backend: str


def start_pending_sign_in(session, user, *, next_url: str, backend: str = "") -> None:
    """Remember who passed the password, without signing them in."""
    session.pop(_CHALLENGE_KEY, None)
    session[PENDING_KEY] = {
        "user": user.pk,
        "next": next_url or "",
        "at": int(time.time()),
        "backend": backend or getattr(user, "backend", "") or "",
    }


def pending_sign_in(session) -> Pending | None:
    """The pending sign-in, when it is recent and the user may still sign in."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    if time.time() - data.get("at", 0) > authsite_settings.MFA_PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    user = get_user_model().objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None:
        session.pop(PENDING_KEY, None)
        return None
    return Pending(user=user, next_url=data.get("next") or "", backend=data.get("backend") or "")


def end_pending_sign_in(session) -> None:
    session.pop(PENDING_KEY, None)


# --- attempts ---


def check_attempt(user, ip: str) -> None:
    """Count one second-factor attempt; raise once the user or the address is over the limit."""
    window = authsite_settings.MFA_ATTEMPT_WINDOW_SECONDS
    checks = [
        (f"mfa-user:{user.pk}", authsite_settings.MFA_ATTEMPTS_PER_USER),
        (f"mfa-ip:{ip}", authsite_settings.MFA_ATTEMPTS_PER_IP),
    ]
    for key, limit in checks:
        result = ratelimit.hit(key, limit=limit, window_seconds=window)
        if not result.allowed:
            raise throttled(result.retry_after)


def forget_attempts(user) -> None:
    ratelimit.reset(f"mfa-user:{user.pk}")


def record_used(user, method: str, request) -> None:
    details = {"method": method}
    if method == "recovery_code":
        details["remaining"] = unused_recovery_codes(user)
    record(Action.MFA_USED, actor=user, target=user, request=request, details=details)


def record_failed(user, method: str, request, *, reason: str = "wrong") -> None:
    record(
        Action.MFA_FAILED,
        outcome=Outcome.FAILURE,
        actor=user,
        target=user,
        request=request,
        details={"method": method, "reason": reason},
    )


def check_current_password(user, password: str) -> bool:
    """Re-authentication before changing MFA data (ASVS 7.5.1), throttled per user so a
    borrowed session cannot be used to guess the password."""
    result = ratelimit.hit(
        f"mfa-reauth:{user.pk}",
        limit=authsite_settings.MFA_ATTEMPTS_PER_USER * 2,
        window_seconds=authsite_settings.MFA_ATTEMPT_WINDOW_SECONDS,
    )
    if not result.allowed:
        raise throttled(result.retry_after)
    return bool(password) and user.check_password(password)


def check_address(ip: str) -> None:
    """Count one passwordless attempt against the address's MFA limit."""
    result = ratelimit.hit(
        f"mfa-ip:{ip}",
        limit=authsite_settings.MFA_ATTEMPTS_PER_IP,
        window_seconds=authsite_settings.MFA_ATTEMPT_WINDOW_SECONDS,
    )
    if not result.allowed:
        raise throttled(result.retry_after)


def record_passkey_failed(request, *, reason: str) -> None:
    record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=None,
        target=("passkey", "", "passkey"),
        request=request,
        details={"reason": f"passkey_{reason}", "path": request.path},
    )
