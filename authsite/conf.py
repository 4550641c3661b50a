"""authsite's product settings (``AUTHSITE_*``): typed, documented, read on access.

``authsite/settings.py`` fills them from the environment; code reads them
here, never from ``django.conf.settings`` directly, so every knob has one
documented default and tests can override it with the ``settings`` fixture.
"""

from __future__ import annotations

from django.conf import settings


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
        """Encrypts signing keys at rest; if it changes, stored keys are replaced by new ones."""
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


authsite_settings = AuthsiteSettings()
