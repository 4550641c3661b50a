"""The user model, custom from the first migration (changing it later is a rewrite).

E-mail is unique case-insensitively and is how people sign in; a username is
optional, unique case-insensitively when set. ``uuid`` is the stable public
identifier used as the OpenID Connect ``sub``, so tokens never reveal row ids.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.managers import UserManager


class UsernameValidator(UnicodeUsernameValidator):
    """Letters, digits and . + - _ ; no ``@``, which marks an e-mail at sign-in."""

    regex = r"^[\w.+-]+\Z"
    message = _("Enter a valid username: letters, digits and . + - _ only.")


class User(AbstractBaseUser, PermissionsMixin):
    uuid = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("e-mail address"), max_length=254)
    email_verified = models.BooleanField(_("e-mail verified"), default=False)
    username = models.CharField(
        _("username"),
        max_length=150,
        null=True,
        blank=True,
        validators=[UsernameValidator()],
        help_text=_("Optional. 150 characters or fewer: letters, digits and . + - _ only."),
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Designates whether the user can sign in to the admin console."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Unselect this instead of deleting accounts."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message=_("A user with that e-mail address already exists."),
            ),
            models.UniqueConstraint(
                Lower("username"),
                condition=Q(username__isnull=False),
                name="accounts_user_username_ci_unique",
                violation_error_message=_("A user with that username already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.username or self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)
        if self.username == "":
            self.username = None
        if self.username:
            self.username = self.normalize_username(self.username)
            if "@" in self.username:
                raise ValidationError({"username": UsernameValidator.message})

    def save(self, *args, **kwargs):
        if self.username == "":
            self.username = None
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name
