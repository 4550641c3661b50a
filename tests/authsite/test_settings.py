"""The process refuses insecure production configuration, and each service URL is honoured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.servers import BIN, REPO, base_env, manage

STRONG_KEY = "k3y-" + "x7Qp9vLm2Rt8Wz4Yb6Nc1Ds5Fg0Hj3Kl" * 2

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "id.example.com",
    "AUTHSITE_PUBLIC_URL": "https://id.example.com",
}


def run_check(tmp_path, **env):
    return manage(base_env(tmp_path, **env), "check", timeout=60)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-but-random-Zx81"}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"AUTHSITE_PUBLIC_URL": "http://id.example.com"}, "AUTHSITE_PUBLIC_URL"),
    ],
)
def test_production_refuses_to_start_on_insecure_configuration(tmp_path, overrides, variable):
    """With DEBUG off, a missing or weak secret, no hosts or an http issuer stop the process."""
    result = run_check(tmp_path, **{**PRODUCTION, **overrides})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authsite: refusing to start:")
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_trusted_proxy_network_is_named(tmp_path):
    result = run_check(tmp_path, AUTHSITE_TRUSTED_PROXIES="10.0.0.0/8,nonsense")
    assert result.returncode != 0
    assert "AUTHSITE_TRUSTED_PROXIES" in result.stderr and "nonsense" in result.stderr


def test_development_default_starts_without_any_environment(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50, "the development key is random and long"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0, "the key file is private"


def test_documented_production_configuration_passes_check_deploy(tmp_path):
    """deploy/authsite.env.example, once given a real key, passes `check --deploy` silently."""
    example = (REPO / "deploy" / "authsite.env.example").read_text()
    shipped = tmp_path / "shipped.env"
    shipped.write_text(example)
    refused = manage(base_env(tmp_path, AUTHSITE_ENV_FILE=str(shipped)), "check")
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr, "the placeholder is refused"

    configured = tmp_path / "authsite.env"
    configured.write_text(
        example.replace("SECRET_KEY=change-me\n", f"SECRET_KEY={STRONG_KEY}\n").replace(
            "AUTHSITE_KEY_ENCRYPTION_SECRET=change-me-to-another-random-value",
            f"AUTHSITE_KEY_ENCRYPTION_SECRET={STRONG_KEY[::-1]}",
        )
    )
    env = base_env(tmp_path, AUTHSITE_ENV_FILE=str(configured))
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_placeholder_key_encryption_secret_is_reported_by_check_deploy(tmp_path):
    """authsite.W003 names the variable while it is missing or a placeholder."""
    example = (REPO / "deploy" / "authsite.env.example").read_text()
    configured = tmp_path / "authsite.env"
    configured.write_text(example.replace("SECRET_KEY=change-me\n", f"SECRET_KEY={STRONG_KEY}\n"))
    env = base_env(tmp_path, AUTHSITE_ENV_FILE=str(configured))
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING", timeout=60)
    assert result.returncode != 0
    assert "authsite.W003" in result.stdout + result.stderr


def settings_seen_with(tmp_path, **env) -> dict:
    """Load the settings in a fresh interpreter with ``env`` and return what they became."""
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "db = settings.DATABASES['default'];"
        "print(json.dumps({'engine': db['ENGINE'], 'name': db['NAME'],"
        " 'conn_max_age': db.get('CONN_MAX_AGE'), 'options': db.get('OPTIONS', {}),"
        " 'cache': settings.CACHES['default']['BACKEND'],"
        " 'sessions': settings.SESSION_ENGINE, 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
        " 'broker': settings.CELERY_BROKER_URL, 'email': settings.EMAIL_BACKEND,"
        " 'proxy_ssl': settings.__dict__['_wrapped'].__dict__.get('SECURE_PROXY_SSL_HEADER')}))"
    )
    env = base_env(tmp_path, DJANGO_SETTINGS_MODULE="authsite.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_uses_sqlite_locmem_inline_tasks_and_console_email(tmp_path):
    seen = settings_seen_with(tmp_path)
    assert seen["engine"] == "django.db.backends.sqlite3"
    assert seen["name"] == str(tmp_path / "authsite.sqlite3")
    assert seen["cache"].endswith("LocMemCache")
    assert seen["sessions"] == "django.contrib.sessions.backends.db"
    assert seen["eager"] is True
    assert seen["email"] == "django.core.mail.backends.console.EmailBackend"
    assert seen["proxy_ssl"] is None, "no proxy is trusted by default"


def test_service_urls_switch_to_postgres_pool_redis_and_a_broker(tmp_path):
    seen = settings_seen_with(
        tmp_path,
        DATABASE_URL="postgres://authsite:pw@db.internal:5432/authsite",
        REDIS_URL="redis://cache.internal:6379/0",
        CELERY_BROKER_URL="amqp://guest:guest@mq.internal:5672//",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:587",
        AUTHSITE_TRUSTED_PROXIES="10.0.0.0/8",
    )
    assert seen["engine"] == "django.db.backends.postgresql"
    assert seen["conn_max_age"] == 0, "persistent connections exhaust PostgreSQL under ASGI"
    assert seen["options"]["pool"]["max_size"] >= 1
    assert seen["cache"] == "django_redis.cache.RedisCache"
    assert seen["sessions"] == "accounts.session_store"  # cached_db that survives Redis loss
    assert seen["eager"] is False
    assert seen["broker"].startswith("amqp://")
    assert seen["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert seen["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_gunicorn_stops_on_insecure_configuration_instead_of_restarting_workers(tmp_path):
    """The master validates the settings: no worker restart loop that looks 'active'."""
    env = base_env(tmp_path, DEBUG="false", GUNICORN_BIND="127.0.0.1:0")
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "authsite.asgi:application"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "authsite: refusing to start: SECRET_KEY is not set" in result.stderr
    assert "Booting worker" not in result.stderr


@pytest.mark.parametrize("token", ["change-me", "short-token-123"])
def test_weak_metrics_token_is_refused(tmp_path, token):
    result = run_check(tmp_path, AUTHSITE_METRICS_TOKEN=token)
    assert result.returncode != 0
    assert "AUTHSITE_METRICS_TOKEN" in result.stderr
