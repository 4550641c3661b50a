"""Keep secrets out of audit details: the trail records who and what, never credentials."""

from __future__ import annotations

from common.logging import REDACTED, redact

SECRET_WORDS = (
    "password",
    "secret",
    "token",
    "code",
    "assertion",
    "verifier",
    "otp",
    "key",
    "credential",
    "authorization",
    "cookie",
    "session",
)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def clean_details(value, *, depth: int = 0):
    """A JSON-safe copy of ``value`` with secret-looking keys and values redacted."""
    if depth > 5:
        return REDACTED
    if isinstance(value, dict):
        return {
            str(k): REDACTED if is_secret_name(str(k)) else clean_details(v, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_details(v, depth=depth + 1) for v in value]
    if isinstance(value, str):
        return redact(value)[:1000]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))[:1000]
