"""Multi-factor authentication: one module per factor, plus what they share.

* ``common``: enrolment state (``has_mfa``), the RFC 8176 method names,
  secrets at rest, attempt limits. Re-authentication uses the one current-password
  check, ``accounts.services.passwords.verify_current_password``.
* ``pending``: the sign-in between the password and the second factor.
* ``totp``, ``recovery``, ``webauthn``: enrolment, removal and the sign-in
  step of each factor; each step ends in ``accounts.services.sign_in``.

The names below are the public API, for callers that want one import.
"""

from accounts.services.mfa.common import (
    AMR_PASSKEY,
    AMR_RECOVERY_CODE,
    AMR_SECURITY_KEY,
    AMR_TOTP,
    decrypt,
    encrypt,
    has_mfa,
    session_used_second_factor,
)
from accounts.services.mfa.pending import (
    Pending,
    end_pending_sign_in,
    pending_sign_in,
    signing_in,
    start_pending_sign_in,
)
from accounts.services.mfa.recovery import (
    generate_recovery_codes,
    unused_recovery_codes,
    use_recovery_code,
)
from accounts.services.mfa.totp import confirm_totp, confirmed_totp, remove_totp, use_totp
from accounts.services.mfa.webauthn import expected_origin, remove_credential, rp_id

__all__ = [
    "AMR_PASSKEY",
    "AMR_RECOVERY_CODE",
    "AMR_SECURITY_KEY",
    "AMR_TOTP",
    "Pending",
    "confirm_totp",
    "confirmed_totp",
    "decrypt",
    "encrypt",
    "end_pending_sign_in",
    "expected_origin",
    "generate_recovery_codes",
    "has_mfa",
    "pending_sign_in",
    "remove_credential",
    "remove_totp",
    "rp_id",
    "session_used_second_factor",
    "signing_in",
    "start_pending_sign_in",
    "unused_recovery_codes",
    "use_recovery_code",
    "use_totp",
]
