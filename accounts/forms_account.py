"""The account page's profile form: the fields a person may change about themselves.

Only the fields listed in ``Meta.fields`` are ever read from the POST, so
``is_staff``, ``is_superuser``, ``email_verified`` or ``email`` sent along are
ignored (ASVS 8.2.3). The e-mail address changes only through its own
verified flow.
"""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from accounts.identifiers import normalise_username
from accounts.models import User
from audit.events import Action
from audit.services import record


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
        taken = (
            User.objects.exclude(pk=self.instance.pk)
            .annotate(username_lower=Lower("username"))
            .filter(username_lower=value.lower())
        )
        if taken.exists():  # the database constraint stays the last word (non-field error)
            raise forms.ValidationError(
                _("A user with that username already exists. Choose another one."),
                code="unique",
            )
        return value

    @transaction.atomic
    def save(self, *, request=None):
        """Save the changed fields and audit which ones changed (never their values)."""
        changed = [name for name in self.changed_data if name in self.Meta.fields]
        user = super().save(commit=False)
        if changed:
            user.save(update_fields=changed)
            record(
                Action.USER_CHANGED,
                actor=user,
                target=user,
                request=request,
                details={"fields": changed, "changed_by": "user"},
            )
        return user
