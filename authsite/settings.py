"""Django settings for authsite.

This is the only module that reads the environment. Every default is the
embedded mode: SQLite under ``var/``, the local-memory cache, Celery tasks run
inline and e-mail printed to the console, so ``manage.py runserver`` works with
no environment at all. Each variable is documented in the README.

With ``DEBUG`` off the process refuses to start on an insecure configuration
(see :mod:`authsite.startup`), naming the variable to fix.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

from authsite.startup import require_secure_production_settings
from common.conf import AuthsiteSettings

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Environment: every os.environ read of the project happens in this block.
# ---------------------------------------------------------------------------
env = environ.Env()
ENV_FILE = Path(environ.Env().str("AUTHSITE_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=True)
VAR_DIR = Path(env.str("AUTHSITE_VAR_DIR", default=str(BASE_DIR / "var")))
_SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The URL `make run` last served on (it writes var/public_url), so invitation links and
# bootstrap output in any shell match the server without exporting AUTHSITE_PUBLIC_URL;
# the environment (or the .env file) still wins.
PUBLIC_URL_FILE = VAR_DIR / "public_url"


def _served_public_url() -> str:
    try:
        return PUBLIC_URL_FILE.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


# authsite's product settings: each AUTHSITE_* the environment sets, read with the type
# common/conf.py declares, else the default declared there (each default is written once).
_AUTHSITE = AuthsiteSettings.from_environment(env, debug=DEBUG)
_AUTHSITE["AUTHSITE_PUBLIC_URL"] = (
    env.str("AUTHSITE_PUBLIC_URL", default="")
    or _served_public_url()
    or AuthsiteSettings.PUBLIC_URL.default
).rstrip("/")
globals().update(_AUTHSITE)
_DATABASE_URL = env.str("DATABASE_URL", default="")
_DATABASE_POOL_MIN_SIZE = env.int("DATABASE_POOL_MIN_SIZE", default=2)
_DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10)
_DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
_DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=1.0)
_REDIS_URL = env.str("REDIS_URL", default="")
_CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
_CELERY_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="authsite")
_EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="authsite <noreply@localhost>")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
_SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
_STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
# ---------------------------------------------------------------------------

# The apps' own readiness checks behind /health/ready (authsite/health.py): an
# instance that cannot decrypt the cluster's signing keys must not take traffic.
HEALTH_READINESS_CHECKS = {"signing_keys": "oauth.keys.check_signing_keys"}

require_secure_production_settings(
    debug=DEBUG,
    secret_key=_SECRET_KEY,
    allowed_hosts=ALLOWED_HOSTS,
    public_url=_AUTHSITE["AUTHSITE_PUBLIC_URL"],
    trusted_proxies=_AUTHSITE["AUTHSITE_TRUSTED_PROXIES"],
    log_format=LOG_FORMAT,
    metrics_token=_AUTHSITE["AUTHSITE_METRICS_TOKEN"],
)


def _development_secret_key() -> str:
    """Return a random per-install key kept in ``var/``, so dev sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.is_file():
        # Processes starting together (server workers, parallel test workers) must all
        # end up with the one key: write it whole to a private file, then link it into
        # place, which succeeds for exactly one of them.
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        draft = VAR_DIR / f".secret_key.{os.getpid()}"
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _SECRET_KEY or _development_secret_key()

INSTALLED_APPS = [
    # django.contrib.admin with authsite's site: staff need MFA (accounts/admin_site.py).
    "accounts.apps.AuthsiteAdminConfig",
    # Before django.contrib.auth, so accounts' changepassword replaces Django's.
    "accounts.apps.AccountsConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "django_prometheus",
    "oauth.apps.OAuthConfig",
    "rbac.apps.RbacConfig",
    "audit.apps.AuditConfig",
    "common.apps.CommonConfig",
    "authsite.apps.AuthsiteConfig",
]

# Kept short on purpose: under uvicorn every MiddlewareMixin-based middleware
# costs two thread hops per request. Security headers, request ids, proxy
# handling, access logging and metrics are one async-capable middleware, and
# Django's session, CSRF, auth and message middleware are subclassed to run
# their I/O-free hooks on the event loop (authsite/middleware.py).
MIDDLEWARE = [
    "authsite.middleware.RequestContextMiddleware",
    "authsite.middleware.SessionMiddleware",
    "authsite.middleware.CsrfViewMiddleware",
    "accounts.middleware.AuthenticationMiddleware",
    "authsite.middleware.MessageMiddleware",
]
# Signed cookies: flash messages never cost a session read or write.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

ROOT_URLCONF = "authsite.urls"
WSGI_APPLICATION = "authsite.wsgi.application"
ASGI_APPLICATION = "authsite.asgi.application"
# Wraps the ASGI application (authsite/asgi.py): the native fast path for the hot OAuth
# endpoints, on or off with AUTHSITE_FAST_PATH (docs/architecture.md "The request path").
ASGI_FAST_PATH = "oauth.fastpath.app.wrap"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "authsite.context_processors.branding",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
if _DATABASE_URL:
    _db = env.db_url_config(_DATABASE_URL)
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "authsite.sqlite3")}

if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's psycopg pool, never CONN_MAX_AGE > 0: under ASGI each request
    # thread would keep its own connection and exhaust PostgreSQL's slots.
    _db["CONN_MAX_AGE"] = 0
    # The pool checks a connection before handing it out (psycopg_pool's
    # check_connection): after a database restart the broken ones are dropped
    # instead of failing a request each.
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"]["pool"] = {
        "min_size": _DATABASE_POOL_MIN_SIZE,
        "max_size": _DATABASE_POOL_MAX_SIZE,
        # How long a request waits for a connection: short, so that while the
        # database is unreachable requests get a 503 (authsite/errors.py) quickly.
        "timeout": _DATABASE_POOL_TIMEOUT,
        # A failed reconnection backs off exponentially; giving up on it after a
        # few seconds lets the next request start a fresh attempt, so the pool
        # reconnects within seconds of the database coming back.
        "reconnect_timeout": 5.0,
    }
    _db["OPTIONS"]["connect_timeout"] = _DATABASE_CONNECT_TIMEOUT
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db.setdefault("OPTIONS", {})
    # WAL and IMMEDIATE transactions let several workers share the file
    # without "database is locked" errors on concurrent writes.
    _db["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and shared state --------------------------------------------------
if _REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": _REDIS_URL,
            "KEY_PREFIX": "authsite",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    # One circuit breaker per Redis server in front of every django-redis call
    # (authsite/redis_breaker.py): a slow Redis costs one timeout per period.
    DJANGO_REDIS_CONNECTION_FACTORY = "authsite.redis_breaker.BreakerConnectionFactory"
    # Sessions stay in the database (the account page lists them) with Redis
    # in front; never cached_db over the local-memory cache, which is not
    # shared between workers and would keep a deleted session alive.
    SESSION_ENGINE = "accounts.session_store"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
AUTHSITE_REDIS_URL = _REDIS_URL

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = _CELERY_BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not _CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = _CELERY_QUEUE
# The one periodic schedule of the project (run beat once per cluster).
CELERY_BEAT_SCHEDULE = {
    "clear-expired-tokens": {"task": "oauth.clear_expired_tokens", "schedule": 3600.0},
    # Rotates only when the active key is older than the rotation period, and
    # retires keys whose tokens have all expired; safe to run often.
    # Seals audit events older than the grace period into signed, chained digests.
    "seal-audit-events": {"task": "audit.seal_events", "schedule": 60.0},
    # Exports, then removes, events older than AUTHSITE_AUDIT_RETENTION_DAYS.
    "prune-audit-events": {"task": "audit.prune_events", "schedule": 86400.0},
    # Deletes sign-in locks and failure records past AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS.
    "prune-sign-in-records": {"task": "accounts.prune_sign_in_records", "schedule": 86400.0},
    # Redis lost the deny list (restart without persistence, flush): rebuild it from
    # PostgreSQL. Until then readers fall back to the token rows (oauth/revocation.py).
    "restore-deny-list": {"task": "oauth.restore_deny_list", "schedule": 60.0},
    "rotate-signing-keys": {
        "task": "oauth.rotate_signing_keys",
        "schedule": float(_AUTHSITE["AUTHSITE_SIGNING_KEY_CHECK_SECONDS"]),
    },
}
AUTHSITE_BROKER_CONFIGURED = bool(_CELERY_BROKER_URL)

# --- E-mail -------------------------------------------------------------------
vars().update(env.email_url_config(_EMAIL_URL))
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Users and passwords --------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.UsernameOrEmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",  # argon2id
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Client secrets only (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]), never passwords.
    "oauth.hashers.ClientSecretHasher",
]
# No composition rules (ASVS 6.2.5): length, not common, not breached, not like the
# account's own names. The accounts.validators classes are Django's with messages
# that say what to do instead.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.validators.MaximumLengthValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": _AUTHSITE["AUTHSITE_PASSWORD_MIN_LENGTH"]},
    },
    {"NAME": "accounts.validators.UserAttributeSimilarityValidator"},
    {"NAME": "accounts.validators.CommonPasswordValidator"},
    {"NAME": "accounts.validators.BreachedPasswordValidator"},
    {"NAME": "accounts.validators.NumericPasswordValidator"},
]
# Reset links are single-use (the token hashes the password and last sign-in).
PASSWORD_RESET_TIMEOUT = _AUTHSITE["AUTHSITE_PASSWORD_RESET_TIMEOUT_SECONDS"]
LOGIN_URL = "accounts:login"
# Signed in without a `next`: the account page, not the home page one step away from it.
LOGIN_REDIRECT_URL = "accounts:account"

# --- OAuth (django-oauth-toolkit): models swapped from the first migration -----
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.AuthsiteOAuth2Validator",
    # Client secrets are 256-bit random: a fast hash is as safe as a slow one
    # and keeps Argon2 off every token request (oauth/hashers.py).
    "CLIENT_SECRET_HASHER": "authsite_sha256",
    "ACCESS_TOKEN_EXPIRE_SECONDS": _AUTHSITE["AUTHSITE_ACCESS_TOKEN_LIFETIME_SECONDS"],
    "ID_TOKEN_EXPIRE_SECONDS": _AUTHSITE["AUTHSITE_ID_TOKEN_LIFETIME_SECONDS"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": _AUTHSITE["AUTHSITE_AUTHORIZATION_CODE_LIFETIME_SECONDS"],
    # RFC 9068 JWT access tokens and 256-bit opaque refresh tokens (oauth/tokens.py);
    # the lifetime is per client, so the server class hands oauthlib a callable.
    "ACCESS_TOKEN_GENERATOR": "oauth.tokens.mint_access_token",
    "REFRESH_TOKEN_GENERATOR": "oauth.tokens.generate_refresh_token",
    "OIDC_SERVER_CLASS": "oauth.tokens.OIDCServer",
    # The scopes and their descriptions are written once, in oauth/claims.py.
    "SCOPES_BACKEND_CLASS": "oauth.claims.Scopes",
    "DEFAULT_SCOPES": ["openid"],
    "REQUEST_APPROVAL_PROMPT": "force",  # remembered consent is authsite's (oauth.Consent)
    "OIDC_ISS_ENDPOINT": _AUTHSITE["AUTHSITE_PUBLIC_URL"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # Plain http redirect URIs (loopback callbacks of local apps) only in development.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    # RFC 9700 gates: every one on (they default to off in DOT 3.x);
    # authsite.E005 fails `check --deploy` if one is turned off.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- Internationalisation --------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(_STATIC_ROOT)  # filled by collectstatic; nginx may serve it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "servestatic.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- HTTP security ----------------------------------------------------------------
# Proxy headers are honoured only from AUTHSITE_TRUSTED_PROXIES; the request
# middleware strips them from any other peer, so this header cannot be forged.
if _AUTHSITE["AUTHSITE_TRUSTED_PROXIES"]:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SESSION_COOKIE_SECURE = _SECURE_COOKIES
CSRF_COOKIE_SECURE = _SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The expired-form page in the site's look, instead of Django's technical 403.
CSRF_FAILURE_VIEW = "authsite.branding.csrf_failure"
# authsite.middleware.RequestContextMiddleware replaces SecurityMiddleware and
# XFrameOptionsMiddleware (it sets HSTS, nosniff, Referrer-Policy, CSP and
# X-Frame-Options); authsite.W001 checks that it is installed instead.
# auth.W004: e-mail is unique case-insensitively through a database constraint
# (accounts_user_email_ci_unique), which Django's check cannot see.
# security.W003 looks for Django's CsrfViewMiddleware by exact path; authsite's
# subclass is checked by authsite.E006 instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003", "auth.W004"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- REST framework -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Logging ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "common.logging.RequestContextFilter"},
        "redact_secrets": {"()": "common.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {
            "()": "common.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {
            "()": "common.logging.JsonFormatter",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_context", "redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Django's own request logger repeats what the access log says.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
