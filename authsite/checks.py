"""System checks with stable ids (``authsite.E001`` …); ``deploy=True`` ones gate production."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string

from common.conf import ACCESS_TOKEN_ALGORITHMS, authsite_settings

MIDDLEWARE_PATH = "authsite.middleware.RequestContextMiddleware"


@register(Tags.security)
def check_request_middleware(app_configs, **kwargs):
    """authsite.W001 / E006: the request middleware and a CSRF middleware are installed."""
    errors = []
    if MIDDLEWARE_PATH not in settings.MIDDLEWARE:
        errors.append(
            Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: responses lack security "
                "headers and proxy headers are not sanitised.",
                id="authsite.W001",
            )
        )
    if not any(issubclass(import_string(path), CsrfViewMiddleware) for path in settings.MIDDLEWARE):
        errors.append(
            Error(
                "No CSRF middleware in MIDDLEWARE: forms are open to cross-site requests.",
                hint="Keep authsite.middleware.CsrfViewMiddleware.",
                id="authsite.E006",
            )
        )
    return errors


@register(Tags.database)
def check_no_persistent_connections(app_configs, **kwargs):
    """authsite.E001: CONN_MAX_AGE > 0 exhausts PostgreSQL under ASGI; use the pool."""
    errors = []
    for alias, db in settings.DATABASES.items():
        if db.get("CONN_MAX_AGE", 0):
            errors.append(
                Error(
                    f"DATABASES[{alias!r}]['CONN_MAX_AGE'] is {db['CONN_MAX_AGE']!r}.",
                    hint="Under ASGI every request thread keeps its own connection; "
                    "set CONN_MAX_AGE = 0 and use OPTIONS['pool'].",
                    id="authsite.E001",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_production_http(app_configs, **kwargs):
    """authsite.E002–E004: https issuer, HSTS and secure cookies in production."""
    errors = []
    if urlsplit(authsite_settings.PUBLIC_URL).scheme != "https":
        errors.append(
            Error(
                "AUTHSITE_PUBLIC_URL is not https.",
                id="authsite.E002",
                hint="OpenID Connect requires an https issuer.",
            )
        )
    if settings.SECURE_HSTS_SECONDS < 31536000:
        errors.append(
            Warning(
                "SECURE_HSTS_SECONDS is under one year.",
                id="authsite.W002",
                hint="Set SECURE_HSTS_SECONDS=31536000 (ASVS 3.4.1).",
            )
        )
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        errors.append(
            Error(
                "Session and CSRF cookies are not marked Secure.",
                id="authsite.E003",
                hint="Leave SECURE_COOKIES at its production default (true).",
            )
        )
    if authsite_settings.TRUSTED_PROXIES and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        errors.append(Error("Trusted proxies without SECURE_PROXY_SSL_HEADER.", id="authsite.E004"))
    return errors


# The RFC 9700 behaviours django-oauth-toolkit 3.x leaves off by default.
REQUIRED_OAUTH2_SETTINGS = (
    "REFRESH_TOKEN_REUSE_PROTECTION",
    "ROTATE_REFRESH_TOKEN",
    "PKCE_REQUIRED",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT",
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT",
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD",
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT",
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS",
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE",
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN",
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME",
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING",
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED",
)


@register(Tags.security, deploy=True)
def check_oauth_security_posture(app_configs, **kwargs):
    """authsite.E005: every RFC 9700 switch of django-oauth-toolkit stays on."""
    configured = getattr(settings, "OAUTH2_PROVIDER", {})
    return [
        Error(
            f"OAUTH2_PROVIDER[{name!r}] is not True.",
            hint="authsite relies on it for RFC 9700 / OAuth 2.1 behaviour; set it back to True.",
            id="authsite.E005",
        )
        for name in REQUIRED_OAUTH2_SETTINGS
        if configured.get(name) is not True
    ]


@register(Tags.security, deploy=True)
def check_key_encryption_secret(app_configs, **kwargs):
    """authsite.W003: signing keys at rest are encrypted with a dedicated, strong secret."""
    secret = getattr(settings, "AUTHSITE_KEY_ENCRYPTION_SECRET", "")
    if len(secret) >= 32 and "change-me" not in secret:
        return []
    return [
        Warning(
            "AUTHSITE_KEY_ENCRYPTION_SECRET is not set to a strong value: signing keys are "
            "encrypted with a key derived from SECRET_KEY instead.",
            hint="Set it (32+ random characters), identical on every instance, so rotating "
            "SECRET_KEY or a mismatched instance does not discard the signing keys.",
            id="authsite.W003",
        )
    ]


@register(Tags.security)
def check_access_token_algorithm(app_configs, **kwargs):
    """authsite.E007: access tokens are signed with an algorithm authsite keeps keys for."""
    value = getattr(settings, "AUTHSITE_ACCESS_TOKEN_ALGORITHM", ACCESS_TOKEN_ALGORITHMS[0])
    if str(value).strip().upper() in ACCESS_TOKEN_ALGORITHMS:
        return []
    return [
        Error(
            f"AUTHSITE_ACCESS_TOKEN_ALGORITHM is {value!r}.",
            hint=f"Use one of {', '.join(ACCESS_TOKEN_ALGORITHMS)}; until then access tokens "
            f"are signed with {ACCESS_TOKEN_ALGORITHMS[0]}.",
            id="authsite.E007",
        )
    ]
