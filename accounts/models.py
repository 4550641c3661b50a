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
    session_epoch = models.PositiveBigIntegerField(
        _("session epoch"),
        default=0,
        editable=False,
        help_text=_(
            "Moves when one of the user's sessions ends or its cached copy could not be "
            "updated; a cached session of an older epoch is read again from the database."
        ),
    )

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


class SignInLock(models.Model):
    """A temporary refusal of sign-in for one account from one source (or one source overall).

    Counters live in Redis; a lock is also written here, so it survives a Redis
    flush or restart and is visible (and clearable) in the admin.
    """

    login_key = models.CharField(
        _("account key"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("SHA-256 of the normalised login; empty for a lock on the address alone."),
    )
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source_ip = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("failed attempts"), default=0)
    level = models.PositiveSmallIntegerField(
        _("back-off level"), default=1, help_text=_("Each new lock doubles the duration.")
    )
    locked_until = models.DateTimeField(_("locked until"), db_index=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sign-in lock")
        constraints = [
            models.UniqueConstraint(
                fields=["login_key", "source_ip"], name="accounts_signinlock_unique_source"
            )
        ]

    def __str__(self) -> str:
        who = self.user or (self.login_key[:12] if self.login_key else "any account")
        return f"{who} from {self.source_ip or 'anywhere'} until {self.locked_until:%Y-%m-%d %H:%M}"


class FailedSignIn(models.Model):
    """One failed sign-in (wrong password), kept durably so a Redis flush cannot reset the count.

    Redis counts attempts for the fast path; these rows are what the lock
    decision also counts (over the same sliding window) when a password turns
    out wrong, so a lost Redis never forgives failures. Only failures are
    written: a good sign-in costs nothing here unless it forgives earlier ones.
    """

    login_key = models.CharField(_("account key"), max_length=64)
    source_ip = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("failed sign-in")
        indexes = [
            models.Index(fields=["login_key", "source_ip", "at"], name="accounts_failed_pair_at"),
            models.Index(fields=["source_ip", "at"], name="accounts_failed_ip_at"),
        ]

    def __str__(self) -> str:
        return f"{self.login_key[:12]} from {self.source_ip or '-'} at {self.at:%Y-%m-%d %H:%M:%S}"


class UserSession(models.Model):
    """A signed-in browser session, listed on the account page and in the admin."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(_("session key"), max_length=40, unique=True)
    created = models.DateTimeField(_("signed in"), auto_now_add=True)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("device"), max_length=512, blank=True)
    methods = models.CharField(_("sign-in methods"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("session")
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.user} · {self.user_agent[:40]} · {self.ip}"


class TOTPDevice(models.Model):
    """An authenticator app (RFC 6238); the secret is encrypted at rest."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="totp")
    secret_encrypted = models.TextField(_("secret (encrypted)"))
    confirmed = models.DateTimeField(_("confirmed"), null=True, blank=True)
    last_used_step = models.BigIntegerField(
        _("last accepted time step"), default=0, help_text=_("A code is accepted once.")
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("authenticator app")

    def __str__(self) -> str:
        return f"TOTP for {self.user}"


class RecoveryCode(models.Model):
    """A single-use recovery code, stored hashed (shown once)."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(_("code hash"), max_length=128)
    used = models.DateTimeField(_("used"), null=True, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("recovery code")

    def __str__(self) -> str:
        return f"recovery code of {self.user} ({'used' if self.used else 'unused'})"


class WebAuthnCredential(models.Model):
    """A security key or passkey registered with the ``webauthn`` package."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="webauthn_credentials"
    )
    name = models.CharField(_("name"), max_length=100)
    credential_id = models.CharField(_("credential id (base64url)"), max_length=1400, unique=True)
    public_key = models.BinaryField(_("public key (COSE)"))
    sign_count = models.PositiveBigIntegerField(_("signature counter"), default=0)
    transports = models.JSONField(_("transports"), default=list, blank=True)
    discoverable = models.BooleanField(_("passkey (discoverable)"), default=False)
    created = models.DateTimeField(_("registered"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("security key or passkey")

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
