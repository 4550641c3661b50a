"""The account page's profile form: the fields a person may change about themselves.

Only the fields listed in ``Meta.fields`` are ever read from the POST, so
``is_staff``, ``is_superuser``, ``email_verified`` or ``email`` sent along are
ignored (ASVS 8.2.3). The e-mail address changes only through its own
verified flow.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.identifiers import normalise_username
from accounts.models import User
from accounts.services.users import update_profile


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "username"]
        widgets = {
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
            "username": forms.TextInput(
                attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
            ),
        }
        help_texts = {
            "username": _(
                "Optional; you can sign in with it instead of your e-mail. "
                "Up to 150 letters, digits and . + - _ (no @)."
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_username(self):
        value = self.cleaned_data.get("username")
        if not value:
            return None
        value = normalise_username(value)  # NFKC, no invisible characters or homographs
        if "@" in value:
            raise forms.ValidationError(
                _("A username cannot contain @ (that marks an e-mail). Remove it."),
                code="invalid",
            )
        taken = User.objects.with_username(value).exclude(pk=self.instance.pk)
        if taken.exists():  # the database constraint stays the last word (non-field error)
            raise forms.ValidationError(
                _("A user with that username already exists. Choose another one."),
                code="unique",
            )
        return value

    def save(self, *, request=None):
        """Save the changed fields through :func:`accounts.services.users.update_profile`."""
        changed = [name for name in self.changed_data if name in self.Meta.fields]
        return update_profile(super().save(commit=False), changed, request=request)
