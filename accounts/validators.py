"""The password policy: the validators ``AUTH_PASSWORD_VALIDATORS`` names.

The policy is length and "not known to attackers", never composition rules
(ASVS 6.2.5): a minimum and a maximum length, Django's common-password,
similarity and numeric checks, and a bundled list of breached passwords (no
network call at request time). Every validator message says what to do.
"""

from __future__ import annotations

import re
from functools import cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from common.conf import authsite_settings


class MaximumLengthValidator:
    """Refuse passwords longer than ``AUTHSITE_PASSWORD_MAX_LENGTH`` (4096 by default).

    Argon2 reads the whole input, so an unbounded password lets anyone make
    the server hash megabytes per request. The limit is far above anything a
    person or a password manager produces, and it is reported as a field
    error: nothing is ever silently truncated (ASVS 6.2.8, 6.2.9).
    """

    def __init__(self, max_length: int | None = None) -> None:
        self._max_length = max_length

    @property
    def max_length(self) -> int:
        return self._max_length or authsite_settings.PASSWORD_MAX_LENGTH

    def validate(self, password, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                _(
                    "This password is too long: use at most %(max_length)d characters "
                    "(it has %(length)d)."
                ),
                code="password_too_long",
                params={"max_length": self.max_length, "length": len(password)},
            )

    def get_help_text(self) -> str:
        return _("Your password can have at most %(max_length)d characters.") % {
            "max_length": self.max_length
        }


# Leading and trailing digits, punctuation and spaces: "Password123!" is "password"
# to anyone running a cracking dictionary with the usual rules.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def breached_passwords() -> frozenset[str]:
    """The ~30,000 most frequent passwords of public breach corpora, lower-cased.

    The list ships inside the ``zxcvbn`` package, so checking costs no network
    call and leaks nothing about the password to a third party.
    """
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


@cache
def _django_common_passwords() -> frozenset[str]:
    return frozenset(password_validation.CommonPasswordValidator().passwords)


class BreachedPasswordValidator:
    """Refuse passwords found in breach corpora, ignoring case and the digits or symbols
    people add around them (attackers try those variants first)."""

    def validate(self, password, user=None) -> None:
        lowered = password.lower()
        if lowered.strip() in _django_common_passwords():
            return  # CommonPasswordValidator says so already: one message is enough
        candidates = {lowered, _DECORATION.sub("", lowered)}
        if candidates & breached_passwords():
            raise ValidationError(
                _(
                    "This password appears in lists of passwords leaked from other sites "
                    "(even with the digits or symbols around it removed), so attackers try "
                    "it first. Choose another one: a few unrelated words make a strong "
                    "password that is easy to remember."
                ),
                code="password_breached",
            )

    def get_help_text(self) -> str:
        return _("It can’t be a password known from data breaches.")


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    def get_error_message(self) -> str:
        return _(
            "This password is too similar to your %(verbose_name)s. Choose one that has "
            "nothing to do with it."
        )


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def get_error_message(self) -> str:
        return _(
            "This password is one of the most common ones, so attackers try it first. "
            "Choose another one: a few unrelated words make a strong password."
        )


class NumericPasswordValidator(password_validation.NumericPasswordValidator):
    def get_error_message(self) -> str:
        return _("This password has only digits. Add some letters or words.")
