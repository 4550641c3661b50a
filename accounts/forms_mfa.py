"""Forms of the multi-factor pages: input shape and the messages people see."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.exceptions import WrongCurrentPasswordError
from accounts.forms import validate_typed_password_length
from accounts.services.mfa.totp import TOTP_DIGITS, clean_otp
from accounts.services.passwords import verify_current_password
from audit.events import Action
from common.exceptions import ThrottledError


class CurrentPasswordForm(forms.Form):
    """Re-authentication before changing MFA or recovery data (ASVS 7.5.1).

    The password goes through accounts' one current-password check, which
    counts and audits a wrong one under ``action`` (what the form would have
    done) and refuses once the user had too many. Like the sign-in form, the
    input has no ``maxlength`` (a browser would cut a pasted password); an
    over-long one is a field error, never hashed.
    """

    action = Action.MFA_RESET  # removing a factor; subclasses that add one say so

    password = forms.CharField(
        label=_("Current password"),
        strip=False,
        validators=[validate_typed_password_length],
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user, *args, request=None, **kwargs) -> None:
        self.user = user
        self.request = request
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        try:
            verify_current_password(self.user, password, action=self.action, request=self.request)
        except (WrongCurrentPasswordError, ThrottledError) as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return password

    def mark_invalid_fields(self) -> None:
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"{name}-error"}
                )


class RecoveryCodesForm(CurrentPasswordForm):
    """Re-authentication before replacing every recovery code."""

    action = Action.MFA_ENROLLED


class TOTPSetupForm(CurrentPasswordForm):
    action = Action.MFA_ENROLLED
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
    field_order = ["code", "password"]

    def clean_code(self):
        code = clean_otp(self.cleaned_data["code"])
        if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
            raise forms.ValidationError(
                _("Enter the 6-digit code your authenticator app shows now."), code="format"
            )
        return code


class WebAuthnNameForm(CurrentPasswordForm):
    action = Action.MFA_ENROLLED
    name = forms.CharField(
        label=_("Name of the key"),
        max_length=100,
        initial=_("Security key"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    field_order = ["name", "password"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError(
                _("Use letters, digits and spaces for the name."), code="format"
            )
        return name


class VerifyCodeForm(forms.Form):
    """The sign-in step: a code from the app, or a recovery code."""

    METHOD_CHOICES = [("totp", _("Authenticator app")), ("recovery", _("Recovery code"))]

    method = forms.ChoiceField(choices=METHOD_CHOICES, widget=forms.HiddenInput)
    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
