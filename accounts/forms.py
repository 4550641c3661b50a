"""Account forms: input shape and the messages people see."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.core import validators
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common.conf import authsite_settings

# The id of the element holding the form-wide error, so inputs can point at it.
FORM_ERROR_ID = "form-error"


def validate_typed_password_length(value: str) -> None:
    """Refuse a typed password longer than ``AUTHSITE_PASSWORD_MAX_LENGTH`` as a field error.

    It runs before ``authenticate()``: an over-long password is never hashed and
    never counts as a failed sign-in, and the message names the limit. No
    ``maxlength`` goes on the input, so a browser never silently cuts a pasted one.
    """
    limit = authsite_settings.PASSWORD_MAX_LENGTH
    if len(value) > limit:
        raise ValidationError(
            _(
                "This password is too long: use at most %(max_length)d characters "
                "(it has %(length)d)."
            ),
            code="max_length",
            params={"max_length": limit, "length": len(value)},
        )


class LoginForm(forms.Form):
    """Sign in by username or e-mail and password.

    Every failure (unknown account, wrong password, inactive account) gives the
    same message, so the page never tells anyone which accounts exist.
    """

    username = forms.CharField(
        label=_("Username or e-mail"),
        max_length=254,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        validators=[validate_typed_password_length],
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    remember = forms.BooleanField(
        label=_("Keep me signed in on this device"),
        required=False,
        help_text=_("Leave it off on a shared computer."),
    )

    error_messages = {
        "invalid_login": _("The username/e-mail or password is incorrect."),
    }

    def __init__(self, request=None, *args, **kwargs) -> None:
        self.request = request
        self.user_cache = None
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username and password:
            self.user_cache = authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                self.describe_inputs_by_form_error()
                raise forms.ValidationError(
                    self.error_messages["invalid_login"], code="invalid_login"
                )
        return self.cleaned_data

    def describe_inputs_by_form_error(self) -> None:
        """Point both inputs at the form-wide error, for screen readers."""
        for name in ("username", "password"):
            self.fields[name].widget.attrs.update(
                {"aria-invalid": "true", "aria-describedby": FORM_ERROR_ID}
            )

    def get_user(self):
        return self.user_cache


class AdminLoginForm(AdminAuthenticationForm):
    """The admin console's sign-in form, with the hosted page's length limits: an over-long
    username or password is a field error, and no sign-in is attempted (nothing hashed,
    nothing counted)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Django sets the username's max_length after the field exists, so its
        # MaxLengthValidator is never added and only the browser's maxlength limits it.
        username = self.fields["username"]
        username.validators.append(validators.MaxLengthValidator(username.max_length))
        self.fields["password"].validators.append(validate_typed_password_length)
