"""Forms of the password pages: reset, change, and e-mail change.

Password inputs carry no ``maxlength``: a browser silently cuts a pasted
password at that length, so the user would later be refused with the
password their manager saved (ASVS 6.2.8). Over-long input is reported by
:class:`accounts.validators.MaximumLengthValidator` instead. Inputs are
never stripped or case-folded.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import validate_typed_password_length

EMAIL_ATTRS = {"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"}


def password_field(label, required_message, autocomplete="new-password"):
    # A current password is checked against its hash: an over-long one is a field
    # error here, never hashed and never counted as a wrong password. A new one is
    # measured by the password policy (MaximumLengthValidator).
    current = autocomplete == "current-password"
    return forms.CharField(
        label=label,
        strip=False,
        validators=[validate_typed_password_length] if current else [],
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        error_messages={"required": required_message},
    )


def email_field(label, required_message):
    return forms.EmailField(
        label=label,
        max_length=254,
        widget=forms.EmailInput(attrs=EMAIL_ATTRS),
        error_messages={
            "required": required_message,
            "invalid": _("Enter a valid e-mail address, like name@example.com."),
            "max_length": _("Enter an e-mail address of at most 254 characters."),
        },
    )


class PasswordsForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PasswordResetRequestForm(PasswordsForm):
    email = email_field(_("E-mail address"), _("Enter the e-mail address of your account."))


class NewPasswordMixin:
    """Two new-password fields checked against the policy for ``self.user``.

    Policy errors go on the first field (where the password was typed); a
    mismatch goes on the second.
    """

    def clean(self):
        cleaned = super().clean()
        first = cleaned.get("new_password1")
        second = cleaned.get("new_password2")
        if first:
            try:
                password_validation.validate_password(first, self.user)
            except ValidationError as error:
                self.add_error("new_password1", error)
        if first and second and first != second:
            self.add_error(
                "new_password2",
                ValidationError(
                    _("The two passwords differ. Type the same new password in both fields."),
                    code="password_mismatch",
                ),
            )
        return cleaned


class SetPasswordForm(NewPasswordMixin, PasswordsForm):
    """A new password, typed twice, for ``user`` (the reset link's last step)."""

    new_password1 = password_field(_("New password"), _("Enter a new password."))
    new_password2 = password_field(
        _("New password again"), _("Enter the new password again, to rule out a typo.")
    )

    def __init__(self, user, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)
        self.fields[
            "new_password1"
        ].help_text = password_validation.password_validators_help_text_html()


class PasswordChangeForm(SetPasswordForm):
    """The current password first (ASVS 6.2.3), then the new one twice."""

    current_password = password_field(
        _("Current password"),
        _("Enter your current password."),
        autocomplete="current-password",
    )
    field_order = ["current_password", "new_password1", "new_password2"]


class EmailChangeForm(PasswordsForm):
    new_email = email_field(_("New e-mail address"), _("Enter the new e-mail address."))
    current_password = password_field(
        _("Current password"),
        _("Enter your current password, to confirm that it is you."),
        autocomplete="current-password",
    )

    def __init__(self, user, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)
