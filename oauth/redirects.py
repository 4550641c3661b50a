"""Which redirect URIs a client may register (RFC 9700 §4.1.3, RFC 6749 §3.1.2, RFC 8252 §7).

A registered redirect URI is where authorization codes and ID tokens are
sent, so a sloppy one turns the server into an open redirector or hands codes
to an attacker. django-oauth-toolkit checks the syntax and its
``ALLOWED_REDIRECT_URI_SCHEMES``; this is the stricter layer on top, applied
by ``Application.clean()`` to ``redirect_uris`` and
``post_logout_redirect_uris`` alike:

- https, or http only to a loopback host (RFC 8252 §7.3), or a private-use
  scheme in reverse-domain form such as ``com.example.app:/cb``
  (RFC 8252 §7.1);
- never ``javascript:``, ``data:``, ``file:`` or ``vbscript:``, in any case;
- no fragment (RFC 6749 §3.1.2), no wildcard and no userinfo, since
  redirect URIs are compared by exact string (RFC 9700 §2.1, §4.1.3);
- no whitespace, control or invisible formatting characters, and no
  backslash, which browsers strip or read as ``/`` so that the URI followed
  differs from the one registered.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def validate_redirect_uri(uri: str) -> None:
    """Raise ``ValidationError`` naming the first problem with ``uri``, if any."""

    def invalid(message, code):
        return ValidationError(message, code=code, params={"uri": uri})

    if not uri:
        raise invalid(_("Redirect URI is empty."), "empty")
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf") for char in uri):
        raise invalid(
            _("Redirect URI %(uri)r contains whitespace or control characters."), "control_chars"
        )
    match = _SCHEME_RE.match(uri)
    if match is None:
        raise invalid(
            _("Redirect URI %(uri)s is not an absolute URI (it needs a scheme such as https://)."),
            "not_absolute",
        )
    scheme = match.group(1).lower()
    if scheme in FORBIDDEN_SCHEMES:
        raise ValidationError(
            _("Redirect URI %(uri)s uses the %(scheme)s: scheme, which is never allowed."),
            code="forbidden_scheme",
            params={"uri": uri, "scheme": scheme},
        )
    if "#" in uri:
        raise invalid(
            _("Redirect URI %(uri)s has a fragment (#), which is not allowed (RFC 6749 §3.1.2)."),
            "fragment",
        )
    if "*" in uri:
        raise invalid(
            _("Redirect URI %(uri)s contains a wildcard (*); register each exact URI instead."),
            "wildcard",
        )
    if "\\" in uri:
        raise invalid(_("Redirect URI %(uri)s contains a backslash."), "backslash")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise invalid(_("Redirect URI %(uri)s is malformed."), "malformed") from None
    if "@" in parts.netloc:
        raise invalid(
            _("Redirect URI %(uri)s contains user information (user@); it is not allowed."),
            "userinfo",
        )
    if scheme in ("https", "http"):
        if not parts.hostname:
            raise invalid(_("Redirect URI %(uri)s has no host."), "no_host")
        if scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise invalid(
                _(
                    "Redirect URI %(uri)s uses http:, which is allowed only for loopback hosts "
                    "(127.0.0.1, [::1], localhost; RFC 8252 §7.3). Use https."
                ),
                "insecure_scheme",
            )
        return
    if "." not in scheme:
        raise ValidationError(
            _(
                "Redirect URI %(uri)s uses the %(scheme)s: scheme. Use https, or for a native "
                "app a private-use scheme in reverse-domain form such as com.example.app: "
                "(RFC 8252 §7.1)."
            ),
            code="unsupported_scheme",
            params={"uri": uri, "scheme": scheme},
        )
