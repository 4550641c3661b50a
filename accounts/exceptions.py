"""accounts' expected failures: each an ``AuthsiteError`` with a stable code,
an HTTP status and a message safe to show. Throttling anywhere in accounts
raises ``common.exceptions.ThrottledError``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy

from common.exceptions import AuthsiteError, ThrottledError  # noqa: F401  (re-exported)


class AccountsError(AuthsiteError):
    """Base of every accounts failure."""


# --- Sign-in and multi-factor authentication ------------------------------------------


class SignInLockedError(AccountsError, PermissionDenied):
    """The source is locked (accounts/lockout.py): ``authenticate()`` stops here.

    Raised by the authentication backend, which has already recorded the failed
    sign-in (reason ``"locked"``). Being a ``PermissionDenied``, Django's
    ``authenticate()`` turns it into ``None`` without asking another backend,
    so every form shows its usual wrong-password message.
    """

    code = "sign_in_locked"
    status = 403
    message = "The username/e-mail or password is incorrect."


class MFAError(AccountsError):
    """A second factor, or a step of enrolling one, was refused; ``message`` is safe to show.

    Throttled attempts raise ``ThrottledError`` instead (status 429, ``retry_after``).
    """

    code = "invalid"
    message = "The second factor was not accepted."


class MFARequestError(MFAError):
    """The browser's WebAuthn request was not a JSON object."""

    code = "bad_request"
    message = "The request was not a JSON object."


class ChallengeExpiredError(MFAError):
    """No live WebAuthn challenge of this kind: never issued, already used, or too old."""

    code = "challenge"
    message = "This request has expired. Start again with the button on the page."


class CredentialRefusedError(MFAError):
    """An authenticator's answer did not verify, or names no usable credential."""

    code = "invalid"
    message = "The security key or passkey was not accepted."


class DuplicateCredentialError(MFAError):
    """The security key being registered is registered already."""

    code = "duplicate"
    message = "This security key is already registered."


class InvalidCodeError(MFAError):
    """An authenticator-app code or recovery code is wrong or was used already."""

    code = "invalid"
    message = "That code is not valid or was already used."


class SignInExpiredError(MFAError):
    """The pending sign-in between the password and the second factor is gone."""

    code = "expired"
    message = "Your sign-in took too long. Sign in again."


# --- Passwords, e-mail change and registration ----------------------------------------


class PasswordError(AccountsError):
    """Base of the password reset and change failures."""

    code = "password_error"


class InvalidResetLinkError(PasswordError):
    code = "invalid_reset_link"
    message = gettext_lazy(
        "This password reset link is invalid, has expired or was already used. "
        "Ask for a new link below."
    )


class WrongCurrentPasswordError(PasswordError):
    """The password a signed-in user re-entered to confirm an action is not theirs."""

    code = "wrong_password"
    message = gettext_lazy(
        "Your current password is not correct. Enter the password you sign in with now."
    )


class EmailChangeError(AccountsError):
    """An e-mail change that cannot go ahead; ``code`` says why (``same_email``,
    ``expired``, ``invalid_link``, ``email_taken``)."""

    code = "email_change_error"


class RegistrationError(AccountsError):
    """Base of the registration and e-mail verification failures."""

    code = "registration_error"


class RegistrationClosedError(RegistrationError):
    code = "registration_closed"
    status = 403
    message = "Registration is closed. Ask an administrator to create your account."


class InvitationError(RegistrationError):
    """A missing, tampered, expired or already used invitation (``code`` says which)."""

    code = "invitation_invalid"
    message = "This invitation link is not valid."


class VerificationLinkError(RegistrationError):
    """A tampered, expired or already used verification link (``code`` says which)."""

    code = "invalid"
    message = "This verification link is not valid."
