"""Shared fixtures, and the rule for tests that need a real service.

A test marked ``postgres`` or ``redis`` runs against the real service named by
``DATABASE_URL`` / ``REDIS_URL``. When the service is not configured or does
not answer, the test is skipped with the reason on a developer's machine and
fails in CI (``CI`` set), where a skip would hide a missing service.
"""

from __future__ import annotations

import os
import uuid
from functools import cache

import pytest

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

from tests.factories import PASSWORD, UserFactory
from tests.support.workers import worker_redis_url

pytest_plugins = ["tests.support.oauth", "tests.support.browser"]

IN_CI = bool(os.environ.get("CI"))


@cache
def postgres_unavailable() -> str | None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL does not name a PostgreSQL database"
    return None


@cache
def redis_unavailable() -> str | None:
    url = settings.AUTHSITE_REDIS_URL
    if not url:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as exc:  # any failure means the service is not usable
        return f"Redis at REDIS_URL does not answer ({type(exc).__name__})"
    return None


# Tests never send tasks to CELERY_BROKER_URL (the suite's own tasks run
# inline); broker tests start their own processes against this URL.
BROKER_URL = os.environ.get("AUTHSITE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


@cache
def broker_unavailable() -> str | None:
    from kombu import Connection

    try:
        with Connection(BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"no message broker at AUTHSITE_TEST_BROKER_URL ({type(exc).__name__})"
    return None


SERVICES = {
    "postgres": postgres_unavailable,
    "redis": redis_unavailable,
    "broker": broker_unavailable,
}


def pytest_runtest_setup(item):
    for marker, unavailable in SERVICES.items():
        if item.get_closest_marker(marker) and (reason := unavailable()):
            if IN_CI:
                pytest.fail(f"{reason}; CI runs this test against the real service", pytrace=False)
            pytest.skip(reason)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Each parallel worker starts with a REDIS_URL of its own (tests/support/workers.py)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    for index, spec in enumerate(specs):
        spec.env["REDIS_URL"] = worker_redis_url(url, index)


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh, empty PostgreSQL database on the configured server, dropped afterwards."""
    if reason := postgres_unavailable():
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    import psycopg

    db = settings.DATABASES["default"]
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER")
    password = db.get("PASSWORD") or ""
    name = f"authsite_it_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(
        host=host, port=port, user=user, password=password, dbname="postgres", autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    auth = f"{user}:{password}@" if password else f"{user}@"
    try:
        yield {"url": f"postgres://{auth}{host}:{port}/{name}", "host": host, "port": int(port)}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url():
    if reason := redis_unavailable():
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return settings.AUTHSITE_REDIS_URL


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user(db, password):
    return UserFactory(email="alice@example.com", username="alice", password=password)


@pytest.fixture(scope="session")
def broker_url():
    if reason := broker_unavailable():
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return BROKER_URL


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Rate-limit and lockout counters live in the shared cache and outlive a test (the
    database rolls back, Redis does not): each test starts with none."""
    yield
    from django.core.cache import cache

    try:
        if settings.CACHES["default"]["BACKEND"].startswith("django_redis"):
            from django_redis import get_redis_connection

            redis = get_redis_connection("default")
            keys = list(redis.scan_iter("*authsite:rl:*", count=1000))
            if keys:
                redis.delete(*keys)
        else:
            cache.clear()
    except Exception:  # a test may have left the cache unreachable on purpose
        pass


@pytest.fixture(autouse=True)
def _fresh_dependency_state():
    """Failure logs are rate-limited and Redis breakers trip per process: each test starts
    with nothing logged and every breaker closed, whatever the previous test broke."""
    from authsite.redis_breaker import reset_breakers
    from common.logging import reset_dependency_failures

    reset_dependency_failures()
    reset_breakers()
    yield


@pytest.fixture
def argon2_runs(monkeypatch):
    """Count the real Argon2id hasher's runs (hash or verify); the hasher still runs."""
    runs = []
    for name in ("encode", "verify"):
        original = getattr(Argon2PasswordHasher, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            runs.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Argon2PasswordHasher, name, spy)
    return runs
