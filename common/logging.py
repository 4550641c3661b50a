"""Structured logging: one line per event, the request id on every line, no secrets.

``RedactSecretsFilter`` is the last line of defence: code must never log a
secret in the first place, but if a password, token, code or client secret
slips into a message, an exception text or a URL, it is replaced before any
handler writes it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from common.conf import authsite_settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The request being answered, for code far from the view (the audit trail reads
# the client address, user agent and request id from it).
current_request_var: contextvars.ContextVar = contextvars.ContextVar(
    "current_request", default=None
)

REDACTED = "[REDACTED]"

_SECRET_KEYS = (
    r"password\w*|passwd|pwd|secret|client_secret|\w*_secret|\w*token|code_verifier|code"
    r"|client_assertion|assertion|authorization|cookie|sessionid|csrftoken|api[_-]?key|otp|totp"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # HTTP authorization schemes
    (re.compile(r"(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    # key=value, key: value, "key": "value", key='value' (query strings, dicts, JSON)
    (
        re.compile(
            rf"""(?i)(?<![\w-])((?:{_SECRET_KEYS})["']?\s*[:=]\s*(?:b?["'])?)([^\s&"',;}}\]]+)"""
        ),
        rf"\1{REDACTED}",
    ),
    # compact JWS/JWT
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # credentials inside URLs: scheme://user:password@host
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # capability links in paths: password reset, e-mail verification and e-mail change
    (
        re.compile(r"(/(?:password/reset/[^/\s]+|verify|email/change/confirm)/)[^/\s]{16,}"),
        rf"\1{REDACTED}",
    ),
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a credential replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def printable(text: str) -> str:
    """Escape control characters so attacker input cannot forge log lines (ASVS 16.4.1)."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return _CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class RequestContextFilter(logging.Filter):
    """Attach the current request id (or ``-``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Redact credentials from the message and the exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the event
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class TextFormatter(logging.Formatter):
    """Human-readable, still one line per event: newlines are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object per line with ``timestamp``, ``level``, ``logger``, ``request_id``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        # uvicorn repeats each message with ANSI colours in `color_message`.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "color_message"])
        super().__init__(*args, **kwargs)


# --- Dependency failures: once per period and kind -----------------------------------

_failure_lock = threading.Lock()
# kind -> [monotonic time of the last line written, occurrences not written since]
_failure_log: dict[str, list] = {}


def log_dependency_failure(
    logger: logging.Logger, kind: str, message: str, *args, level: int = logging.WARNING
) -> None:
    """Log a failing dependency at most once per ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``
    per ``kind`` in this process; the occurrences in between are counted, and the count is
    written on the line after the next one logged.

    An outage fails every request the same way: one line per request buried the
    logs under hundreds of identical warnings (560 in 20 s of a Redis outage).
    ``kind`` names the dependency and the operation (``"deny list"``, ``"session
    cache"``), so distinct failures still show up once each.
    """
    interval = authsite_settings.DEPENDENCY_LOG_INTERVAL_SECONDS
    now = time.monotonic()
    with _failure_lock:
        state = _failure_log.get(kind)
        if state is not None and now - state[0] < interval:
            state[1] += 1
            return
        since = now - state[0] if state is not None else 0.0
        suppressed = state[1] if state is not None else 0
        _failure_log[kind] = [now, 0]
    logger.log(level, message, *args)
    if suppressed:
        logger.log(
            level,
            "%s: %d more failure(s) in the last %ds were not logged",
            kind,
            suppressed,
            round(since),
        )


def reset_dependency_failures() -> None:
    """Forget what was logged (tests, and a process that starts serving anew)."""
    with _failure_lock:
        _failure_log.clear()
