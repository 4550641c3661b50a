"""Security keys and passkeys (WebAuthn, the ``webauthn`` package).

A security key or passkey is a second factor after the password; a passkey
with user verification (the device's PIN or biometric) is also a passwordless
sign-in on its own. Challenges live in the session and are popped before
verification (single use). The functions taking ``body`` accept the browser's
JSON as bytes, text or an already parsed object.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

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
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.exceptions import (
    ChallengeExpiredError,
    CredentialRefusedError,
    DuplicateCredentialError,
    MFARequestError,
)
from accounts.models import WebAuthnCredential
from accounts.services.mfa.common import (
    AMR_PASSKEY,
    AMR_SECURITY_KEY,
    CHALLENGE_KEY,
    MFA_THROTTLE_SCOPE,
    TOO_MANY_ATTEMPTS,
    after_factor_removed,
    check_attempt,
    note_second_factor,
    record_failed,
)
from accounts.services.mfa.pending import Pending, finish_sign_in, record_used
from accounts.services.sign_in import SignInResult, complete_sign_in
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.exceptions import AuthsiteError
from common.net import client_ip

_CHALLENGE_SECONDS = 300


def rp_id() -> str:
    return urlsplit(authsite_settings.PUBLIC_URL).hostname or "localhost"


def expected_origin() -> str:
    parts = urlsplit(authsite_settings.PUBLIC_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _store_challenge(session, purpose: str, challenge: bytes, **extra) -> None:
    session[CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
        **extra,
    }


def _pop_challenge(session, purpose: str) -> dict:
    stored = session.pop(CHALLENGE_KEY, None)
    if (
        not isinstance(stored, dict)
        or stored.get("purpose") != purpose
        or time.time() - stored.get("at", 0) > _CHALLENGE_SECONDS
    ):
        raise ChallengeExpiredError()
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


def parse_body(body) -> dict:
    """The browser's JSON object; ``MFARequestError`` for anything else."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise MFARequestError(_("The request was not valid JSON.")) from None
    if not isinstance(body, dict):
        raise MFARequestError(_("The request was not a JSON object."))
    return body


# --- enrolment ---


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


@transaction.atomic
def register_credential(session, user, body, *, request=None) -> WebAuthnCredential:
    """Verify the authenticator's answer to the stored challenge and keep the credential."""
    credential = parse_body(body)
    stored = _pop_challenge(session, "register")
    if stored.get("user") != user.pk:
        raise ChallengeExpiredError("This request has expired. Start again.")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(stored["challenge"]),
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise CredentialRefusedError(
            "The security key's answer could not be verified. Try again."
        ) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnCredential.objects.filter(credential_id=credential_id).exists():
        raise DuplicateCredentialError()
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


def enrol_security_key(request, body) -> WebAuthnCredential:
    """Keep the signed-in user's new security key or passkey; the session then counts as
    having used it. The caller has checked the current password (when the options were
    asked for)."""
    row = register_credential(request.session, request.user, body, request=request)
    note_second_factor(request.session, ["hwk"])
    return row


@transaction.atomic
def remove_credential(user, credential: WebAuthnCredential, *, request=None) -> None:
    credential.delete()
    after_factor_removed(user, "webauthn", request)


# --- signing in ---


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
    credential = parse_body(body)
    stored = _pop_challenge(session, "passkey" if user is None else "second-factor")
    if user is not None and stored.get("user") != user.pk:
        raise ChallengeExpiredError("This request has expired. Start again.")
    refused = CredentialRefusedError()
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


def sign_in_with_security_key(request, pending: Pending, body) -> SignInResult:
    """The second step of a sign-in with a security key or passkey.

    Raises ``ThrottledError`` past the attempt limits, or an ``MFAError``;
    every refusal is audited with its code as the reason.
    """
    user = pending.user
    try:
        credential = parse_body(body)
        check_attempt(user, client_ip(request) or "")
        authenticate_credential(request.session, credential, user)
    except AuthsiteError as exc:
        record_failed(user, "webauthn", request, reason=exc.code)
        raise
    return finish_sign_in(request, pending, methods=AMR_SECURITY_KEY, method="webauthn")


def check_address(ip: str) -> None:
    """Count one passwordless attempt against the address's MFA limit."""
    ratelimit.enforce(
        MFA_THROTTLE_SCOPE,
        f"mfa-ip:{ip}",
        limit=authsite_settings.MFA_ATTEMPTS_PER_IP,
        window_seconds=authsite_settings.MFA_ATTEMPT_WINDOW_SECONDS,
        message=TOO_MANY_ATTEMPTS,
    )


def record_passkey_failed(request, *, reason: str) -> None:
    record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=None,
        target=("passkey", "", "passkey"),
        request=request,
        details={"reason": f"passkey_{reason}", "path": request.path},
    )


def sign_in_with_passkey(request, body) -> SignInResult:
    """A passwordless sign-in: a passkey verified with the device's PIN or biometric.

    Raises ``ThrottledError`` past the address's limit, or an ``MFAError``;
    every refusal is audited as a failed sign-in.
    """
    try:
        credential = parse_body(body)
        check_address(client_ip(request) or "")
        row = authenticate_credential(request.session, credential)
    except AuthsiteError as exc:
        record_passkey_failed(request, reason=exc.code)
        raise
    user = row.user
    record_used(user, "passkey", request)
    return complete_sign_in(
        request,
        user,
        methods=AMR_PASSKEY,
        remember=None,
        backend=settings.AUTHENTICATION_BACKENDS[0],
    )
