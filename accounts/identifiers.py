"""Usernames people can tell apart.

A username is shown to other people and to relying parties
(``preferred_username``), so two that look the same must not both exist.
NFKC folds compatibility forms (full-width letters, ligatures, superscripts)
into their plain form, and the script check refuses names that mix alphabets,
the classic homograph trick ("pаypal" with a Cyrillic "а"). This follows the
spirit of Unicode TS #39 "single script" restriction, with the mixtures real
writing systems use (Japanese, Korean) allowed.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Scripts that are written together in one name (TS #39 "Highly Restrictive" sets).
_COMBINED_SCRIPTS = (
    frozenset({"Han", "Hiragana", "Katakana"}),
    frozenset({"Han", "Hangul"}),
    frozenset({"Han", "Bopomofo"}),
)

# Cyrillic and Greek letters that look like Latin ones: a name made only of these
# (e.g. all-Cyrillic "аdmіn") reads as a Latin name although it is "single script".
_LATIN_LOOKALIKES = frozenset(
    "аеорсуххіјѕԁһԛԝвкмнтАВЕКМНОРСТУХІЈЅԌԚԜ"  # Cyrillic
    "αεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"  # Greek
)

_NAME_PREFIXES = {
    "CJK": "Han",
    "HIRAGANA": "Hiragana",
    "KATAKANA": "Katakana",
    "HANGUL": "Hangul",
    "BOPOMOFO": "Bopomofo",
}


def script_of(char: str) -> str | None:
    """The script a letter belongs to, from its Unicode name; ``None`` for non-letters.

    The standard library has no Script property; the first word of a letter's
    name ("LATIN SMALL LETTER A", "CYRILLIC SMALL LETTER A") names its script
    for every alphabet a username is likely to use.
    """
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if not name:
        return "Unknown"
    first = name.split(" ", 1)[0]
    if first in _NAME_PREFIXES:
        return _NAME_PREFIXES[first]
    if first == "HALFWIDTH" and "KATAKANA" in name:
        return "Katakana"
    return first.capitalize()


def scripts_of(value: str) -> set[str]:
    return {script for char in value if (script := script_of(char)) is not None}


def normalise_username(value: str) -> str:
    """Return ``value`` NFKC-normalised and trimmed, or raise ``ValidationError``.

    Refuses control and format characters (NUL, zero-width joiners, bidi
    overrides), letters from more than one alphabet, and names written in
    Cyrillic or Greek entirely with letters that look Latin. The model's
    validator still decides which characters are allowed at all.
    """
    value = unicodedata.normalize("NFKC", value or "").strip()
    if any(unicodedata.category(char)[0] == "C" for char in value):
        raise ValidationError(
            _("A username cannot contain invisible or control characters. Remove them."),
            code="invisible_characters",
        )
    scripts = scripts_of(value)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMBINED_SCRIPTS):
        raise ValidationError(
            _(
                "This username mixes letters from different alphabets (%(scripts)s), so it "
                "could pass for another name. Use letters from one alphabet only."
            ),
            code="mixed_scripts",
            params={"scripts": ", ".join(sorted(scripts))},
        )
    letters = [char for char in value if script_of(char) is not None]
    if (
        letters
        and scripts & {"Cyrillic", "Greek"}
        and all(char in _LATIN_LOOKALIKES for char in letters)
    ):
        raise ValidationError(
            _(
                "This username is written with %(script)s letters that look like Latin "
                "ones, so it could pass for another name. Choose a different username."
            ),
            code="lookalike_letters",
            params={"script": ", ".join(sorted(scripts))},
        )
    return value
