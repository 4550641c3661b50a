"""authsite's product settings (``AUTHSITE_*``): typed, documented, read on access.

``authsite/settings.py`` fills them from the environment; code reads them
here, never from ``django.conf.settings`` directly, so every knob has one
documented default and tests can override it with the ``settings`` fixture.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

DEFAULT_ACCENT_COLOR = "#3056d3"


class AuthsiteSettings:
    @property
    def PUBLIC_URL(self) -> str:
        """The issuer's base URL, without a trailing slash."""
        return getattr(settings, "AUTHSITE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

    @property
    def ENVIRONMENT(self) -> str:
        """A label for health output and logs, e.g. ``production`` or ``staging``."""
        return getattr(settings, "AUTHSITE_ENVIRONMENT", "development")

    @property
    def SITE_NAME(self) -> str:
        """The name shown on hosted pages and e-mails."""
        return getattr(settings, "AUTHSITE_SITE_NAME", "authsite")

    @property
    def TRUSTED_PROXIES(self) -> list[str]:
        """CIDR networks whose X-Forwarded-* headers are believed."""
        return list(getattr(settings, "AUTHSITE_TRUSTED_PROXIES", []))

    @property
    def METRICS_ALLOWED_NETWORKS(self) -> list[str]:
        """CIDR networks allowed to read ``/metrics`` without a token."""
        return list(getattr(settings, "AUTHSITE_METRICS_ALLOWED_NETWORKS", []))

    @property
    def METRICS_TOKEN(self) -> str:
        """Bearer token that grants ``/metrics`` from anywhere; empty disables it."""
        return getattr(settings, "AUTHSITE_METRICS_TOKEN", "")

    @property
    def HEALTH_CHECK_TIMEOUT_SECONDS(self) -> float:
        """How long one dependency check may take before it counts as failed."""
        return float(getattr(settings, "AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS", 2.0))

    @property
    def REDIS_BREAKER_SECONDS(self) -> float:
        """After a Redis timeout or connection error, how long this process leaves Redis alone.

        Every caller then takes its "Redis is down" fallback at once instead of
        waiting for its own timeout, so a slow Redis costs one timeout per
        process per period. 0 turns the breaker off.
        """
        return float(getattr(settings, "AUTHSITE_REDIS_BREAKER_SECONDS", 5.0))

    @property
    def DEPENDENCY_LOG_INTERVAL_SECONDS(self) -> float:
        """A failing dependency is logged once per this period and kind, then counted."""
        return float(getattr(settings, "AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS", 60.0))

    @property
    def ACCESS_LOG(self) -> bool:
        """Write one ``authsite.access`` log line per request."""
        return bool(getattr(settings, "AUTHSITE_ACCESS_LOG", True))

    @property
    def REDIS_URL(self) -> str:
        """The Redis URL, or empty in the embedded default."""
        return getattr(settings, "AUTHSITE_REDIS_URL", "")

    @property
    def BROKER_CONFIGURED(self) -> bool:
        """True when Celery tasks go to a real broker instead of running inline."""
        return bool(getattr(settings, "AUTHSITE_BROKER_CONFIGURED", False))

    @property
    def ACCESS_TOKEN_LIFETIME_SECONDS(self) -> int:
        """Default access token lifetime; a client may set its own."""
        return int(getattr(settings, "AUTHSITE_ACCESS_TOKEN_LIFETIME_SECONDS", 600))

    @property
    def ID_TOKEN_LIFETIME_SECONDS(self) -> int:
        return int(getattr(settings, "AUTHSITE_ID_TOKEN_LIFETIME_SECONDS", 600))

    @property
    def SIGNING_KEY_ROTATION_DAYS(self) -> int:
        """Age at which the active signing key is replaced by the published next one."""
        return int(getattr(settings, "AUTHSITE_SIGNING_KEY_ROTATION_DAYS", 30))

    @property
    def KEY_ENCRYPTION_SECRET(self) -> str:
        """Encrypts signing keys at rest, identical on every instance.

        An instance that cannot decrypt the stored keys refuses to sign and is
        not ready; it never replaces them (``rotatekeys --discard-unreadable`` does).
        """
        return getattr(settings, "AUTHSITE_KEY_ENCRYPTION_SECRET", "") or settings.SECRET_KEY

    @property
    def REFRESH_TOKEN_IDLE_LIFETIME_SECONDS(self) -> int:
        """A refresh token unused this long is dead (a client may set its own)."""
        return int(getattr(settings, "AUTHSITE_REFRESH_TOKEN_IDLE_LIFETIME_SECONDS", 14 * 86400))

    @property
    def REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS(self) -> int:
        """A refresh-token family this old is dead however often it was used."""
        return int(
            getattr(settings, "AUTHSITE_REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS", 90 * 86400)
        )

    @property
    def AUDIT_HMAC_SECRET(self) -> str:
        """Keys the audit trail's HMACs; changing it makes `audit verify` fail on older events."""
        return getattr(settings, "AUTHSITE_AUDIT_HMAC_SECRET", "") or settings.SECRET_KEY

    @property
    def AUDIT_SEAL_GRACE_SECONDS(self) -> int:
        """Events younger than this are not sealed yet (their transaction may still be open)."""
        return int(getattr(settings, "AUTHSITE_AUDIT_SEAL_GRACE_SECONDS", 300))

    @property
    def AUDIT_RETENTION_DAYS(self) -> int:
        """The beat task exports, then removes, events older than this."""
        return int(getattr(settings, "AUTHSITE_AUDIT_RETENTION_DAYS", 365))

    @property
    def AUDIT_EXPORT_DIR(self) -> str:
        """Where pruned events are exported first (default: var/audit-exports)."""
        return getattr(settings, "AUTHSITE_AUDIT_EXPORT_DIR", "") or str(
            settings.VAR_DIR / "audit-exports"
        )

    @property
    def CLIENT_AUTH_FAILURES_PER_CLIENT(self) -> int:
        """Failed client authentications allowed per client id and address in one window;
        past it that pair gets 429 until the window ends (other addresses are unaffected)."""
        return int(getattr(settings, "AUTHSITE_CLIENT_AUTH_FAILURES_PER_CLIENT", 10))

    @property
    def CLIENT_AUTH_FAILURES_PER_IP(self) -> int:
        """Failed client authentications allowed per address in one window, whatever the
        client id, so spraying many clients from one address is stopped too."""
        return int(getattr(settings, "AUTHSITE_CLIENT_AUTH_FAILURES_PER_IP", 50))

    @property
    def CLIENT_AUTH_FAILURE_WINDOW_SECONDS(self) -> int:
        """How long failures are counted from the first one, and the longest a lockout lasts."""
        return int(getattr(settings, "AUTHSITE_CLIENT_AUTH_FAILURE_WINDOW_SECONDS", 300))

    @property
    def REGISTRATION_MODE(self) -> str:
        """Who may create an account: ``open`` (anyone), ``invite`` (holders of an
        invitation link, see ``manage.py invite``) or ``closed`` (only admins create accounts).
        An unknown value counts as ``closed``, so a typo never opens sign-up."""
        mode = str(getattr(settings, "AUTHSITE_REGISTRATION_MODE", "open")).strip().lower()
        return mode if mode in ("open", "invite", "closed") else "closed"

    @property
    def REQUIRE_VERIFIED_EMAIL(self) -> bool:
        """Refuse to finish an OAuth authorization for an account whose e-mail is not
        verified: relying parties trust the ``email`` claim, so it must be the owner's."""
        return bool(getattr(settings, "AUTHSITE_REQUIRE_VERIFIED_EMAIL", True))

    @property
    def EMAIL_VERIFICATION_MAX_AGE_SECONDS(self) -> int:
        """How long a verification link works; a new one can be requested at any time."""
        return int(getattr(settings, "AUTHSITE_EMAIL_VERIFICATION_MAX_AGE_SECONDS", 3 * 86400))

    @property
    def INVITATION_MAX_AGE_SECONDS(self) -> int:
        """How long an invitation link works (it also stops once the account exists)."""
        return int(getattr(settings, "AUTHSITE_INVITATION_MAX_AGE_SECONDS", 7 * 86400))

    @property
    def REGISTRATION_LIMIT_PER_IP(self) -> int:
        """Registrations, and separately verification resends, accepted from one address
        per window; past it the page answers 429 until the window ends."""
        return int(getattr(settings, "AUTHSITE_REGISTRATION_LIMIT_PER_IP", 10))

    @property
    def REGISTRATION_EMAILS_PER_ADDRESS(self) -> int:
        """Registration e-mails (verification links, "someone tried to register" notices)
        sent to one address per window, so nobody can flood a mailbox; past it the page
        looks the same but nothing is sent."""
        return int(getattr(settings, "AUTHSITE_REGISTRATION_EMAILS_PER_ADDRESS", 3))

    @property
    def REGISTRATION_LIMIT_WINDOW_SECONDS(self) -> int:
        """The window both registration limits count in, from the first event."""
        return int(getattr(settings, "AUTHSITE_REGISTRATION_LIMIT_WINDOW_SECONDS", 3600))

    @property
    def LOGO_URL(self) -> str:
        """A same-origin path to the logo (e.g. ``/static/brand/logo.svg``), or empty for none.

        Anything else (another origin, ``//host``, a ``javascript:`` URL) is ignored: the
        CSP allows same-origin images only, and a page must never load third-party content.
        """
        value = str(getattr(settings, "AUTHSITE_LOGO_URL", "") or "").strip()
        if not value.startswith("/") or value.startswith("//") or "\\" in value:
            return ""
        return value if value.isprintable() and '"' not in value else ""

    @property
    def ACCENT_COLOR(self) -> str:
        """The accent colour of hosted pages as ``#rrggbb``; an invalid value falls back to
        the default rather than reaching the generated stylesheet."""
        value = str(getattr(settings, "AUTHSITE_ACCENT_COLOR", "") or "").strip().lower()
        return value if re.fullmatch(r"#[0-9a-f]{6}", value) else DEFAULT_ACCENT_COLOR

    @property
    def SUPPORT_EMAIL(self) -> str:
        """Where people get help, shown in the footer and on error pages; empty (or not an
        e-mail address) hides it."""
        value = str(getattr(settings, "AUTHSITE_SUPPORT_EMAIL", "") or "").strip()
        try:
            validate_email(value)
        except ValidationError:
            return ""
        return value

    @property
    def PASSWORD_MIN_LENGTH(self) -> int:
        """The shortest password accepted (``AUTH_PASSWORD_VALIDATORS`` is built from it).
        Length is the only rule about a password's shape: no composition rules."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_MIN_LENGTH", 12))

    @property
    def PASSWORD_MAX_LENGTH(self) -> int:
        """The longest password accepted, in characters: long enough for any passphrase or
        password manager, short enough that nobody can make the server hash megabytes."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_MAX_LENGTH", 4096))

    @property
    def PASSWORD_RESET_TIMEOUT_SECONDS(self) -> int:
        """How long a reset link stays valid; short, because the link is a bearer credential.
        (Django's ``PASSWORD_RESET_TIMEOUT`` is set from it as well.)"""
        return int(getattr(settings, "AUTHSITE_PASSWORD_RESET_TIMEOUT_SECONDS", 3600))

    @property
    def PASSWORD_RESET_REQUESTS_PER_IP(self) -> int:
        """Reset requests one address may make per window; past it the page looks the same
        but no e-mail is sent (a different page would tell which addresses exist)."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_RESET_REQUESTS_PER_IP", 10))

    @property
    def PASSWORD_RESET_REQUESTS_PER_ADDRESS(self) -> int:
        """Reset e-mails one e-mail address may be sent per window, so nobody can flood
        someone's mailbox through the reset form."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_RESET_REQUESTS_PER_ADDRESS", 3))

    @property
    def PASSWORD_RESET_REQUEST_WINDOW_SECONDS(self) -> int:
        """The window both reset-request limits count in, from the first request."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_RESET_REQUEST_WINDOW_SECONDS", 3600))

    @property
    def PASSWORD_CHECK_FAILURES_PER_USER(self) -> int:
        """Wrong current passwords a signed-in user may give per hour on the password and
        e-mail change forms, so a stolen session cannot guess the password there."""
        return int(getattr(settings, "AUTHSITE_PASSWORD_CHECK_FAILURES_PER_USER", 10))

    @property
    def EMAIL_CHANGE_TIMEOUT_SECONDS(self) -> int:
        """How long the confirmation link sent to a new e-mail address stays valid."""
        return int(getattr(settings, "AUTHSITE_EMAIL_CHANGE_TIMEOUT_SECONDS", 24 * 3600))

    @property
    def EMAIL_CHANGE_REQUESTS_PER_USER(self) -> int:
        """E-mail change requests (each sends two messages) one user may make per hour."""
        return int(getattr(settings, "AUTHSITE_EMAIL_CHANGE_REQUESTS_PER_USER", 5))

    @property
    def LOGIN_FAILURES_PER_ACCOUNT(self) -> int:
        """Failed sign-ins one address may make for one account in a window; reaching it
        locks that account for that address only (other addresses still sign in)."""
        return int(getattr(settings, "AUTHSITE_LOGIN_FAILURES_PER_ACCOUNT", 5))

    @property
    def LOGIN_FAILURES_PER_IP(self) -> int:
        """Failed sign-ins one address may make in a window across all accounts, so
        spraying many accounts from one address locks the address."""
        return int(getattr(settings, "AUTHSITE_LOGIN_FAILURES_PER_IP", 50))

    @property
    def LOGIN_FAILURE_WINDOW_SECONDS(self) -> int:
        """The sliding window failures are counted in, and the length of a first lock
        (each further lock of the same source doubles it)."""
        return int(getattr(settings, "AUTHSITE_LOGIN_FAILURE_WINDOW_SECONDS", 900))

    @property
    def LOGIN_LOCK_MAX_SECONDS(self) -> int:
        """The longest a sign-in lock lasts however often it grows; a victim is never
        locked out for good by an attacker (ASVS 6.3.1)."""
        return int(getattr(settings, "AUTHSITE_LOGIN_LOCK_MAX_SECONDS", 86400))

    @property
    def SIGNIN_RECORD_RETENTION_DAYS(self) -> int:
        """How long sign-in locks and failure records are kept after they stop counting.

        A lock row remembers its back-off level for ``LOGIN_LOCK_MAX_SECONDS``
        after it ends, and a failure counts for one window; the daily retention
        job deletes them this many days after that (never sooner). The audit
        trail keeps the story of every failure and lock anyway.
        """
        return int(getattr(settings, "AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS", 7))

    @property
    def STAFF_MFA_REQUIRED(self) -> bool:
        """Staff reach /admin/ only after a second factor; one without MFA is sent to
        enrolment first (ASVS 6.3.3). Defaults to on when DEBUG is off."""
        return bool(getattr(settings, "AUTHSITE_STAFF_MFA_REQUIRED", not settings.DEBUG))

    @property
    def MFA_ENCRYPTION_SECRET(self) -> str:
        """Encrypts TOTP secrets and keys recovery-code hashes; if it changes, enrolled
        users must enrol again. Empty: SECRET_KEY (its fallbacks still decrypt)."""
        return getattr(settings, "AUTHSITE_MFA_ENCRYPTION_SECRET", "")

    @property
    def MFA_ATTEMPTS_PER_USER(self) -> int:
        """Second-factor attempts per pending sign-in user in one window; then refused
        with "wait N minutes" (a 6-digit code cannot be guessed in a few tries)."""
        return int(getattr(settings, "AUTHSITE_MFA_ATTEMPTS_PER_USER", 5))

    @property
    def MFA_ATTEMPTS_PER_IP(self) -> int:
        """Second-factor attempts per address in one window, whatever the account."""
        return int(getattr(settings, "AUTHSITE_MFA_ATTEMPTS_PER_IP", 30))

    @property
    def MFA_ATTEMPT_WINDOW_SECONDS(self) -> int:
        """The window the MFA attempt limits count in (and the longest wait)."""
        return int(getattr(settings, "AUTHSITE_MFA_ATTEMPT_WINDOW_SECONDS", 300))

    @property
    def MFA_PENDING_SECONDS(self) -> int:
        """How long after the password the second factor may be given; then sign in again."""
        return int(getattr(settings, "AUTHSITE_MFA_PENDING_SECONDS", 300))

    @property
    def REMEMBER_DEVICE_DAYS(self) -> int:
        """How long 'Keep me signed in on this device' keeps a browser signed in."""
        return int(getattr(settings, "AUTHSITE_REMEMBER_DEVICE_DAYS", 30))


authsite_settings = AuthsiteSettings()
