"""Recovery codes: 10 single-use codes of 50 random bits, shown once.

They are stored as HMAC-SHA256 (per-code salt, key derived like the TOTP
key), so a database dump alone cannot be brute-forced offline. A freshly
generated set is handed to the next page view encrypted in the session, for
one showing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.exceptions import InvalidCodeError
from accounts.http import with_next
from accounts.models import RecoveryCode
from accounts.services.mfa.common import (
    AMR_RECOVERY_CODE,
    count_attempt,
    decrypt,
    derive_key,
    encrypt,
    record_failed,
    secrets_for_keys,
)
from accounts.services.mfa.pending import Pending, finish_sign_in
from accounts.services.sign_in import SignInResult
from audit.events import Action
from audit.services import record

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_CHARS = 10  # base32: 50 bits each, shown as xxxxx-xxxxx
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

NEW_RECOVERY_CODES_KEY = "authsite_mfa_new_recovery_codes"
_SHOW_NEW_CODES_SECONDS = 600


def _code_hash(code: str, salt: str, secret: bytes) -> str:
    key = derive_key(secret, b"authsite recovery codes")
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def _normalise_recovery_code(value: str) -> str:
    return "".join(value.split()).replace("-", "").upper()


@transaction.atomic
def generate_recovery_codes(user, *, request=None) -> list[str]:
    """Replace every recovery code of ``user`` with new ones; return them (show once)."""
    RecoveryCode.objects.filter(user=user).delete()
    secret = secrets_for_keys()[0]
    codes, rows = [], []
    for _count in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_BASE32) for _char in range(RECOVERY_CODE_CHARS))
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
        for secret in secrets_for_keys():
            if hmac.compare_digest(_code_hash(code, salt, secret), stored):
                match = row
    if match is None:
        return False
    return bool(
        RecoveryCode.objects.filter(pk=match.pk, used__isnull=True).update(used=timezone.now())
    )


def sign_in_with_recovery_code(request, pending: Pending, code: str) -> SignInResult:
    """The second step of a sign-in with a recovery code in place of the app's code.

    Raises ``ThrottledError`` past the attempt limits and ``InvalidCodeError``
    for a wrong or used code; both are audited.
    """
    user = pending.user
    count_attempt(request, user, "recovery")
    if not use_recovery_code(user, code):
        record_failed(user, "recovery", request)
        raise InvalidCodeError(
            _("That recovery code is not valid or was already used. Check it and retry.")
        )
    return finish_sign_in(
        request,
        pending,
        methods=AMR_RECOVERY_CODE,
        method="recovery_code",
        details={"remaining": unused_recovery_codes(user)},
    )


# --- showing a new set once ---


def _keep_new_recovery_codes(session, codes: list[str]) -> None:
    """Hand freshly generated codes to the next page view, encrypted, for one showing."""
    session[NEW_RECOVERY_CODES_KEY] = {"codes": encrypt(" ".join(codes)), "at": int(time.time())}


def take_new_recovery_codes(session) -> list[str]:
    """The codes generated a moment ago, once; an empty list after that."""
    stored = session.pop(NEW_RECOVERY_CODES_KEY, None)
    if isinstance(stored, dict) and time.time() - stored.get("at", 0) < _SHOW_NEW_CODES_SECONDS:
        return (decrypt(stored.get("codes", "")) or "").split()
    return []


def regenerate_recovery_codes(request) -> None:
    """Replace the signed-in user's codes and keep the new ones for the next page view.

    The caller has checked the current password and that the user has a second factor.
    """
    _keep_new_recovery_codes(
        request.session, generate_recovery_codes(request.user, request=request)
    )


def after_first_factor(request, target: str | None) -> str:
    """Where to go after enrolling: the recovery codes first, when the user has none."""
    if unused_recovery_codes(request.user) == 0:
        regenerate_recovery_codes(request)
        return with_next(reverse("accounts:mfa-recovery-codes"), target)
    return target or reverse("accounts:mfa")
