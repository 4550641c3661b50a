"""A plain django-oauth-toolkit project: the first peer of ``make bench-peers``.

What a team gets from ``django-admin startproject`` plus DOT's tutorial: Django's default
apps and middleware, DOT's own URLs under ``/o/`` and every DOT setting at its default,
except what OIDC needs to exist at all (``OIDC_ENABLED`` and an RSA key, so discovery, JWKS,
userinfo and ID tokens are served) and an ``openid`` scope. DEBUG is off. PostgreSQL through
psycopg with Django's connection pool and ``CONN_MAX_AGE = 0``, as authsite runs.

Default settings include DOT's client-secret hasher: secrets are stored as Django's default
password hash (PBKDF2-SHA256, 1,000,000 iterations in Django 5.2), so every request that
authenticates a client (token, introspection, revocation) verifies one PBKDF2 hash, about
0.3 s of CPU. ``BENCH_DOT_PLAIN_SECRETS=1`` (read by the target's seeder, not here) stores
the benchmark clients with ``hash_client_secret=False`` to measure DOT without that cost.

This project imports nothing from authsite. Everything run-specific comes from the
environment the target (bench/targets/dot_plain.py) sets.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent


def _database(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": True},
    }


SECRET_KEY = os.environ["BENCH_DOT_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dot.urls"
ASGI_APPLICATION = "dot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": _database(os.environ["BENCH_DOT_DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": Path(os.environ["BENCH_DOT_RSA_KEY_FILE"]).read_text(),
    "SCOPES": {
        "openid": "OpenID Connect scope",
        "read": "Reading scope",
        "write": "Writing scope",
    },
}
