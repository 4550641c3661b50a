"""authsite's product settings (``AUTHSITE_*``): typed, documented, read on access.

Each setting is declared once, here, with its type, its one default and its
documentation. ``authsite/settings.py`` reads those set in the environment with
the declared type (``AuthsiteSettings.from_environment``) and writes no default
of its own; code reads them through ``authsite_settings``, never from
``django.conf.settings`` directly, and since every read happens on access,
pytest's ``settings`` fixture overrides them without a reload hook (the
django-allauth and DRF pattern).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

DEFAULT_ACCENT_COLOR = "#3056d3"
_UNSET = object()


class Setting:
    """One ``AUTHSITE_<NAME>`` setting: its type, its default, and how a value is cleaned.

    ``default`` is a value, or a function of the project settings for defaults
    that follow another setting (``DEBUG``). ``clean`` turns what an operator set
    into what code may use (an invalid colour falls back to the default; an empty
    secret falls back to ``SECRET_KEY``). ``from_environment=False`` marks values
    the settings module derives itself (the Redis URL) rather than reads.
    """

    def __init__(
        self,
        kind: type,
        default: Any,
        *,
        doc: str,
        clean: Callable[[Any], Any] | None = None,
        from_environment: bool = True,
    ) -> None:
        self.kind = kind
        self.default = default
        self.clean = clean
        self.from_environment = from_environment
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.setting_name = f"AUTHSITE_{name}"

    def default_for(self, project: Any) -> Any:
        """The default, given the project settings (``django.conf.settings`` or a namespace)."""
        return self.default(project) if callable(self.default) else self.default

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = getattr(settings, self.setting_name, _UNSET)
        if value is _UNSET:
            value = self.default_for(settings)
        value = self.kind(value) if value is not None else self.kind()
        return self.clean(value) if self.clean else value


# The algorithms an access token may be signed with (oauth.keys keeps a key of each).
ACCESS_TOKEN_ALGORITHMS = ("ES256", "RS256")


def _access_token_algorithm(value: str) -> str:
    """An unknown value falls back to ES256; system check authsite.E007 reports it."""
    algorithm = value.strip().upper()
    return algorithm if algorithm in ACCESS_TOKEN_ALGORITHMS else ACCESS_TOKEN_ALGORITHMS[0]


def _registration_mode(value: str) -> str:
    mode = value.strip().lower()
    return mode if mode in ("open", "invite", "closed") else "closed"


def _same_origin_path(value: str) -> str:
    value = value.strip()
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""
    return value if value.isprintable() and '"' not in value else ""


def _colour(value: str) -> str:
    value = value.strip().lower()
    return value if re.fullmatch(r"#[0-9a-f]{6}", value) else DEFAULT_ACCENT_COLOR


def _email_or_empty(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except ValidationError:
        return ""
    return value


class AuthsiteSettings:
    """Every ``AUTHSITE_*`` setting; ``authsite_settings.NAME`` reads one on access."""

    @classmethod
    def declared(cls) -> Iterator[Setting]:
        """Every declared setting, in declaration order."""
        return (value for value in vars(cls).values() if isinstance(value, Setting))

    @classmethod
    def from_environment(cls, env, *, debug: bool) -> dict[str, Any]:
        """``AUTHSITE_<NAME>`` → value for every setting the environment can set: the
        environment's value parsed as the declared type (``env`` is a django-environ
        ``Env``), else the declared default. Only ``authsite/settings.py`` calls this."""
        readers = {int: env.int, float: env.float, bool: env.bool, str: env.str, list: env.list}
        project = SimpleNamespace(DEBUG=debug)
        return {
            knob.setting_name: readers[knob.kind](
                knob.setting_name, default=knob.default_for(project)
            )
            for knob in cls.declared()
            if knob.from_environment
        }

    PUBLIC_URL = Setting(
        str,
        "http://127.0.0.1:8000",
        clean=lambda value: value.rstrip("/"),
        doc="The issuer's base URL, without a trailing slash.",
    )

    ENVIRONMENT = Setting(
        str,
        lambda project: "development" if project.DEBUG else "production",
        doc="A label for health output and logs, e.g. ``production`` or ``staging``.",
    )

    SITE_NAME = Setting(
        str,
        "authsite",
        doc="The name shown on hosted pages and e-mails.",
    )

    TRUSTED_PROXIES = Setting(
        list,
        [],
        doc="CIDR networks whose X-Forwarded-* headers are believed.",
    )

    METRICS_ALLOWED_NETWORKS = Setting(
        list,
        ["127.0.0.0/8", "::1/128"],
        doc="CIDR networks allowed to read ``/metrics`` without a token.",
    )

    METRICS_TOKEN = Setting(
        str,
        "",
        doc="Bearer token that grants ``/metrics`` from anywhere; empty disables it.",
    )

    HEALTH_CHECK_TIMEOUT_SECONDS = Setting(
        float,
        2.0,
        doc="How long one dependency check may take before it counts as failed.",
    )

    REDIS_BREAKER_SECONDS = Setting(
        float,
        5.0,
        doc="""After a Redis timeout or connection error, how long this process leaves Redis alone.

        Every caller then takes its "Redis is down" fallback at once instead of
        waiting for its own timeout, so a slow Redis costs one timeout per
        process per period. 0 turns the breaker off.
        """,
    )

    DEPENDENCY_LOG_INTERVAL_SECONDS = Setting(
        float,
        60.0,
        doc="A failing dependency is logged once per this period and kind, then counted.",
    )

    ACCESS_LOG = Setting(
        bool,
        True,
        doc="Write one ``authsite.access`` log line per request.",
    )

    REDIS_URL = Setting(
        str,
        "",
        from_environment=False,
        doc="The Redis URL, or empty in the embedded default.",
    )

    BROKER_CONFIGURED = Setting(
        bool,
        False,
        from_environment=False,
        doc="True when Celery tasks go to a real broker instead of running inline.",
    )

    ACCESS_TOKEN_LIFETIME_SECONDS = Setting(
        int,
        600,
        doc="Default access token lifetime; a client may set its own.",
    )

    ACCESS_TOKEN_ALGORITHM = Setting(
        str,
        "ES256",
        clean=_access_token_algorithm,
        doc="""Signs JWT access tokens: ``ES256`` (default) or ``RS256``.

        ES256 signs about 7x cheaper than RS256 (the token endpoint's largest
        CPU cost); RS256 verifies about 2x cheaper, which only pays off when a
        token is introspected ~9 times or more, or for resource servers that
        cannot verify ES256. Tokens signed before a change keep verifying until
        they expire: both keys stay published. ID tokens follow each client's
        own algorithm (RS256 unless the client says otherwise).
        """,
    )

    ID_TOKEN_LIFETIME_SECONDS = Setting(
        int,
        600,
        doc="How long an ID token is valid.",
    )

    SIGNING_KEY_ROTATION_DAYS = Setting(
        int,
        30,
        doc="Age at which the active signing key is replaced by the published next one.",
    )

    KEY_ENCRYPTION_SECRET = Setting(
        str,
        "",
        clean=lambda value: value or settings.SECRET_KEY,
        doc="""Encrypts signing keys at rest, identical on every instance.

        An instance that cannot decrypt the stored keys refuses to sign and is
        not ready; it never replaces them (``rotatekeys --discard-unreadable`` does).
        """,
    )

    REFRESH_TOKEN_IDLE_LIFETIME_SECONDS = Setting(
        int,
        14 * 86400,
        doc="A refresh token unused this long is dead (a client may set its own).",
    )

    REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS = Setting(
        int,
        90 * 86400,
        doc="A refresh-token family this old is dead however often it was used.",
    )

    AUDIT_HMAC_SECRET = Setting(
        str,
        "",
        clean=lambda value: value or settings.SECRET_KEY,
        doc="Keys the audit trail's HMACs; changing it makes `audit verify` fail on older events.",
    )

    AUDIT_SEAL_GRACE_SECONDS = Setting(
        int,
        300,
        doc="Events younger than this are not sealed yet (their transaction may still be open).",
    )

    AUDIT_RETENTION_DAYS = Setting(
        int,
        365,
        doc="The beat task exports, then removes, events older than this.",
    )

    AUDIT_EXPORT_DIR = Setting(
        str,
        "",
        clean=lambda value: value or str(settings.VAR_DIR / "audit-exports"),
        doc="Where pruned events are exported first (default: var/audit-exports).",
    )

    CLIENT_AUTH_FAILURES_PER_CLIENT = Setting(
        int,
        10,
        doc="""Failed client authentications allowed per client id and address in one window;
        past it that pair gets 429 until its oldest counted failure leaves the window
        (other addresses are unaffected).
        """,
    )

    CLIENT_AUTH_FAILURES_PER_IP = Setting(
        int,
        50,
        doc="""Failed client authentications allowed per address in one window, whatever the
        client id, so spraying many clients from one address is stopped too.
        """,
    )

    CLIENT_AUTH_FAILURE_WINDOW_SECONDS = Setting(
        int,
        300,
        doc="""How long each failure counts: a sliding window, so the limits hold over any
        period this long (not per fixed period), and the longest a lockout lasts.
        """,
    )

    REGISTRATION_MODE = Setting(
        str,
        "open",
        clean=_registration_mode,
        doc="""Who may create an account: ``open`` (anyone), ``invite`` (holders of an
        invitation link, see ``manage.py invite``) or ``closed`` (only admins create accounts).
        An unknown value counts as ``closed``, so a typo never opens sign-up.
        """,
    )

    REQUIRE_VERIFIED_EMAIL = Setting(
        bool,
        True,
        doc="""Refuse to finish an OAuth authorization for an account whose e-mail is not
        verified: relying parties trust the ``email`` claim, so it must be the owner's.
        """,
    )

    EMAIL_VERIFICATION_MAX_AGE_SECONDS = Setting(
        int,
        3 * 86400,
        doc="How long a verification link works; a new one can be requested at any time.",
    )

    INVITATION_MAX_AGE_SECONDS = Setting(
        int,
        7 * 86400,
        doc="How long an invitation link works (it also stops once the account exists).",
    )

    REGISTRATION_LIMIT_PER_IP = Setting(
        int,
        10,
        doc="""Registrations, and separately verification resends, accepted from one address
        per window; past it the page answers 429 until the oldest counted one leaves it.
        """,
    )

    REGISTRATION_EMAILS_PER_ADDRESS = Setting(
        int,
        3,
        doc="""Registration e-mails (verification links, "someone tried to register" notices)
        sent to one address per window, so nobody can flood a mailbox; past it the page
        looks the same but nothing is sent.
        """,
    )

    REGISTRATION_LIMIT_WINDOW_SECONDS = Setting(
        int,
        3600,
        doc="""The sliding window both registration limits count in: each event counts for
        this long, so the limits hold over any period this long.
        """,
    )

    LOGO_URL = Setting(
        str,
        "",
        clean=_same_origin_path,
        doc="""A same-origin path to the logo (e.g. ``/static/brand/logo.svg``), or empty for none.

        Anything else (another origin, ``//host``, a ``javascript:`` URL) is ignored: the
        CSP allows same-origin images only, and a page must never load third-party content.
        """,
    )

    ACCENT_COLOR = Setting(
        str,
        DEFAULT_ACCENT_COLOR,
        clean=_colour,
        doc="""The accent colour of hosted pages as ``#rrggbb``; an invalid value falls back to
        the default rather than reaching the generated stylesheet.
        """,
    )

    SUPPORT_EMAIL = Setting(
        str,
        "",
        clean=_email_or_empty,
        doc="""Where people get help, shown in the footer and on error pages; empty (or not an
        e-mail address) hides it.
        """,
    )

    PASSWORD_MIN_LENGTH = Setting(
        int,
        12,
        doc="""The shortest password accepted (``AUTH_PASSWORD_VALIDATORS`` is built from it).
        Length is the only rule about a password's shape: no composition rules.
        """,
    )

    PASSWORD_MAX_LENGTH = Setting(
        int,
        4096,
        doc="""The longest password accepted, in characters: long enough for any passphrase or
        password manager, short enough that nobody can make the server hash megabytes.
        """,
    )

    PASSWORD_RESET_TIMEOUT_SECONDS = Setting(
        int,
        3600,
        doc="""How long a reset link stays valid; short, because the link is a bearer credential.
        (Django's ``PASSWORD_RESET_TIMEOUT`` is set from it as well.)
        """,
    )

    PASSWORD_RESET_REQUESTS_PER_IP = Setting(
        int,
        10,
        doc="""Reset requests one address may make per window; past it the page looks the same
        but no e-mail is sent (a different page would tell which addresses exist).
        """,
    )

    PASSWORD_RESET_REQUESTS_PER_ADDRESS = Setting(
        int,
        3,
        doc="""Reset e-mails one e-mail address may be sent per window, so nobody can flood
        someone's mailbox through the reset form.
        """,
    )

    PASSWORD_RESET_REQUEST_WINDOW_SECONDS = Setting(
        int,
        3600,
        doc="""The sliding window both reset-request limits count in: each request counts
        for this long, so the limits hold over any period this long.
        """,
    )

    PASSWORD_CHECK_FAILURES_PER_USER = Setting(
        int,
        10,
        doc="""Wrong current passwords a signed-in user may give in any hour (a sliding
        window) on the password, e-mail change and multi-factor pages (one count for all),
        so a stolen session cannot guess the password there.
        """,
    )

    EMAIL_CHANGE_TIMEOUT_SECONDS = Setting(
        int,
        24 * 3600,
        doc="How long the confirmation link sent to a new e-mail address stays valid.",
    )

    EMAIL_CHANGE_REQUESTS_PER_USER = Setting(
        int,
        5,
        doc="""E-mail change requests (each sends two messages) one user may make in any hour
        (a sliding window).
        """,
    )

    LOGIN_FAILURES_PER_ACCOUNT = Setting(
        int,
        5,
        doc="""Failed sign-ins one address may make for one account in a window; reaching it
        locks that account for that address only (other addresses still sign in).
        """,
    )

    LOGIN_FAILURES_PER_IP = Setting(
        int,
        50,
        doc="""Failed sign-ins one address may make in a window across all accounts, so
        spraying many accounts from one address locks the address.
        """,
    )

    LOGIN_FAILURE_WINDOW_SECONDS = Setting(
        int,
        900,
        doc="""The sliding window failures are counted in, and the length of a first lock
        (each further lock of the same source doubles it). While Redis is unavailable,
        PostgreSQL counts attempts in fixed windows of this length instead.
        """,
    )

    LOGIN_LOCK_MAX_SECONDS = Setting(
        int,
        86400,
        doc="""The longest a sign-in lock lasts however often it grows; a victim is never
        locked out for good by an attacker (ASVS 6.3.1).
        """,
    )

    PASSWORD_HASH_CONCURRENCY = Setting(
        int,
        0,
        doc="""Password hashes (Argon2id) one server process runs at once; 0 means one per
        CPU the process may use. Each takes the hasher's ``memory_cost`` (100 MiB) while it
        runs, so a worker's memory peaks at its idle size plus this many times that; one
        per core keeps the cores busy (one 8-lane hash alone does not). Sign-ins beyond it
        wait, holding no database connection (accounts/password_work.py).
        """,
    )

    PASSWORD_HASH_WAIT_SECONDS = Setting(
        float,
        10.0,
        doc="""How long a request that hashes a password (sign-in, reset, change, registration,
        a re-entered current password) waits for a free slot before the server
        answers 503 with ``Retry-After`` (nothing is counted or audited for it). Keep it
        above the connections a worker holds open divided by the sign-ins per second it
        verifies, or a burst is refused rather than queued.
        """,
    )

    SIGNIN_RECORD_RETENTION_DAYS = Setting(
        int,
        7,
        doc="""How long sign-in locks and failure records are kept after they stop counting.

        A lock row remembers its back-off level for ``LOGIN_LOCK_MAX_SECONDS``
        after it ends, and a failure counts for one window; the daily retention
        job deletes them this many days after that (never sooner). The audit
        trail keeps the story of every failure and lock anyway.
        """,
    )

    STAFF_MFA_REQUIRED = Setting(
        bool,
        lambda project: not project.DEBUG,
        doc="""Staff reach /admin/ only after a second factor; one without MFA is sent to
        enrolment first (ASVS 6.3.3). Defaults to on when DEBUG is off.
        """,
    )

    MFA_ENCRYPTION_SECRET = Setting(
        str,
        "",
        doc="""Encrypts TOTP secrets and keys recovery-code hashes; if it changes, enrolled
        users must enrol again. Empty: SECRET_KEY (its fallbacks still decrypt).
        """,
    )

    MFA_ATTEMPTS_PER_USER = Setting(
        int,
        5,
        doc="""Second-factor attempts per pending sign-in user in one window; then refused
        with "try again in N minutes" (a 6-digit code cannot be guessed in a few tries).
        """,
    )

    MFA_ATTEMPTS_PER_IP = Setting(
        int,
        30,
        doc="Second-factor attempts per address in one window, whatever the account.",
    )

    MFA_ATTEMPT_WINDOW_SECONDS = Setting(
        int,
        300,
        doc="""The sliding window the MFA attempt limits count in (and the longest wait):
        each attempt counts for this long.
        """,
    )

    MFA_PENDING_SECONDS = Setting(
        int,
        300,
        doc="How long after the password the second factor may be given; then sign in again.",
    )

    REMEMBER_DEVICE_DAYS = Setting(
        int,
        30,
        doc="How long 'Keep me signed in on this device' keeps a browser signed in.",
    )

    AUTHORIZATION_CODE_LIFETIME_SECONDS = Setting(
        int,
        60,
        doc="""How long an authorization code may wait to be redeemed; short, because it is a
        bearer credential in a URL (RFC 6749 §4.1.2).
        """,
    )

    FAST_PATH = Setting(
        str,
        "auto",
        clean=lambda value: (
            value.strip().lower() if value.strip().lower() in ("auto", "on", "off") else "auto"
        ),
        doc="""The native ASGI fast path in front of Django for the hot OAuth endpoints
        (``oauth/fastpath/``, docs/architecture.md): ``on``, ``off`` or ``auto``.

        ``auto`` (the default) and ``on`` turn it on when the database is PostgreSQL and
        Redis is configured (``on`` logs a warning when they are not); in the embedded
        default (SQLite, local-memory cache) every request goes to Django. What the
        fast path cannot prove it declines to Django, so turning it off changes speed,
        never answers.
        """,
    )

    SIGNING_KEY_CHECK_SECONDS = Setting(
        int,
        3600,
        doc="How often the periodic job checks whether the signing key is due for rotation.",
    )


authsite_settings = AuthsiteSettings()
