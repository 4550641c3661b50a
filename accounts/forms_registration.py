"""Registration forms: input shape and the messages people see."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import validate_typed_password_length
from accounts.identifiers import normalise_username


class RegistrationForm(forms.Form):
    """E-mail, optional username, and a password typed twice.

    Django's fields already refuse NUL characters and over-long values with a
    field error; Django 5.2 links each error to its input (aria-describedby).
    The password inputs are those of the sign-in form: no ``maxlength`` (a
    browser would cut a pasted password), and a password longer than
    ``AUTHSITE_PASSWORD_MAX_LENGTH`` is a field error that names the limit.
    Nothing here says whether the e-mail already has an account: that is
    decided in ``accounts.services.registration.register``, which answers the same way.
    """

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    username = forms.CharField(
        label=_("Username (optional)"),
        required=False,
        max_length=150,
        help_text=_("Letters, digits and . + - _ only; letters from one alphabet."),
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        validators=[validate_typed_password_length],
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        validators=[validate_typed_password_length],
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, invited_email: str | None = None, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = password_validators_help_text_html()
        if invited_email:
            self.fields["email"].initial = invited_email
            self.fields["email"].widget.attrs["readonly"] = True

    def clean_username(self) -> str | None:
        value = self.cleaned_data.get("username") or ""
        if not value:
            return None
        value = normalise_username(value)
        if "@" in value:
            raise ValidationError(
                _("A username cannot contain @. Leave it empty to sign in with your e-mail."),
                code="invalid",
            )
        return value or None

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ. Type the same one twice."))
        elif first:
            User = get_user_model()
            candidate = User(email=cleaned.get("email") or "", username=cleaned.get("username"))
            try:
                validate_password(first, candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ResendVerificationForm(forms.Form):
    """The address to send a new link to (for people who are not signed in)."""

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
