"""Fail-fast validation of the environment, run while settings load.

A misconfigured identity provider must not start: it would sign tokens with a
guessable key or answer for any host. Each failure is one line naming the
variable to fix, printed by ``SystemExit`` instead of a traceback.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Values seen in tutorials and templates; a key equal to one of them is public.
KNOWN_DEFAULT_SECRET_KEYS = frozenset(
    {"change-me", "changeme", "secret", "secret-key", "your-secret-key", "insecure", "dev", "test"}
)
MIN_SECRET_KEY_LENGTH = 50


class ConfigurationError(SystemExit):
    """Raised at start-up for an insecure or invalid configuration."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"authsite: refusing to start: {variable} {problem}")


def validate_networks(variable: str, networks: list[str]) -> None:
    for value in networks:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigurationError(
                variable, f"has {value!r}, which is not an IP address or CIDR network"
            ) from None


def require_secure_production_settings(
    *,
    debug: bool,
    secret_key: str,
    allowed_hosts: list[str],
    public_url: str,
    trusted_proxies: list[str],
    log_format: str,
    metrics_token: str = "",
) -> None:
    """Raise :class:`ConfigurationError` unless the configuration is safe to serve."""
    validate_networks("AUTHSITE_TRUSTED_PROXIES", trusted_proxies)
    if log_format not in ("text", "json"):
        raise ConfigurationError("LOG_FORMAT", f"is {log_format!r}; use 'text' or 'json'")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            "AUTHSITE_PUBLIC_URL",
            "must be an absolute http(s) URL without query or fragment, "
            "such as https://id.example.com",
        )
    if metrics_token and (
        len(metrics_token) < 32 or metrics_token.lower() in KNOWN_DEFAULT_SECRET_KEYS
    ):
        raise ConfigurationError(
            "AUTHSITE_METRICS_TOKEN",
            "is too weak; use at least 32 random characters or leave it empty",
        )
    if debug:
        return
    if not secret_key:
        raise ConfigurationError("SECRET_KEY", "is not set (DEBUG is off)")
    if (
        secret_key.lower() in KNOWN_DEFAULT_SECRET_KEYS
        or secret_key.startswith("django-insecure")
        or len(secret_key) < MIN_SECRET_KEY_LENGTH
        or len(set(secret_key)) < 5
    ):
        raise ConfigurationError(
            "SECRET_KEY",
            f"is a default or weak value; set at least {MIN_SECRET_KEY_LENGTH} random "
            "characters (python -c 'import secrets; print(secrets.token_urlsafe(50))')",
        )
    if not allowed_hosts:
        raise ConfigurationError(
            "ALLOWED_HOSTS", "is empty (DEBUG is off); list the host names served"
        )
    if parts.scheme != "https":
        raise ConfigurationError("AUTHSITE_PUBLIC_URL", "must use https when DEBUG is off")
