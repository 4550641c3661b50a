"""The request a fast-path handler reads and the response it returns.

A handler returns a :class:`Response`, or ``None`` to decline: the router then
hands the untouched request to Django. Form parsing here is strict on purpose:
anything a handler would have to interpret differently from Django (a repeated
or empty parameter, a query string, another content type) is a reason to decline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Longest value accepted in a form parameter (oauth.errors.MAX_PARAMETER_LENGTH on Django's path).
MAX_PARAMETER_LENGTH = 8192


@dataclass
class Request:
    method: str
    path: str
    query: bytes
    headers: dict[str, str]  # lower-case names; a repeated header is in ``repeated``
    body: bytes
    client_ip: str
    request_id: str
    repeated: frozenset[str] = frozenset()

    def header(self, name: str) -> str | None:
        """The header's value, or None when absent (a repeated header reads as absent:
        handlers that care about it decline on ``repeated``)."""
        return self.headers.get(name)

    def form(self, allowed: frozenset[str], *, unbounded: tuple[str, ...] = ()) -> dict | None:
        """The form body as a dict, or None when Django should answer it.

        None for: a method other than POST, a query string, a content type other
        than exactly ``application/x-www-form-urlencoded``, a body that is not
        UTF-8, a parameter outside ``allowed``, a repeated or empty parameter, or
        an oversized value (except in ``unbounded``).
        """
        if self.method != "POST" or self.query or "content-type" in self.repeated:
            return None
        if self.headers.get("content-type") != FORM_CONTENT_TYPE:
            return None
        try:
            text = self.body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except (UnicodeDecodeError, ValueError):
            return None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name not in allowed or name in form or not value:
                return None
            if name not in unbounded and len(value) > MAX_PARAMETER_LENGTH:
                return None
            form[name] = value
        return form


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, document, status: int = 200, headers=()) -> Response:
        return cls(
            status,
            json.dumps(document).encode(),
            [("Content-Type", "application/json"), *headers],
        )


NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
