from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager
from django.db.models.functions import Lower


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("Users must have an e-mail address.")
        email = self.normalize_email(email)
        username = extra_fields.pop("username", None)
        user = self.model(email=email, username=username or None, **extra_fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, identifier):
        """Find a user by username or e-mail, case-insensitively."""
        return self.get_by_login(identifier)

    def get_by_login(self, identifier: str):
        """Return the user whose username or e-mail matches ``identifier``.

        Raises ``DoesNotExist`` when none does. Both are unique case-insensitively,
        and an ``@`` can appear only in e-mails (usernames refuse it), so the
        lookup is unambiguous.
        """
        identifier = self.model.normalize_username(identifier or "").strip()
        if "@" in identifier:
            return self.with_email(identifier).get()
        return self.with_username(identifier).get()

    def with_email(self, email: str):
        """The users whose e-mail is ``email``, ignoring case and surrounding spaces.

        At most one: the database keeps e-mails unique case-insensitively.
        """
        return self.annotate(email_lower=Lower("email")).filter(
            email_lower=(email or "").strip().lower()
        )

    def with_username(self, username: str):
        """The users whose username is ``username``, ignoring case (at most one)."""
        return self.annotate(username_lower=Lower("username")).filter(
            username_lower=(username or "").strip().lower()
        )
