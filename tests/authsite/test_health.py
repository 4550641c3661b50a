"""Health endpoints against a real gunicorn, with dependencies cut and restored."""

from __future__ import annotations

import time
from http import HTTPStatus

import httpx
import pytest

from tests.support.blackhole import BlackHole
from tests.support.servers import Server, TcpProxy, base_env, free_port, manage

pytestmark = pytest.mark.slow

TIMEOUT = 1.0  # AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS for these servers


def migrated_sqlite_env(tmp_path, **overrides):
    env = base_env(tmp_path, AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS=str(TIMEOUT), **overrides)
    result = manage(env, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return env


def get(server, path):
    return httpx.get(server.url + path, timeout=10)


def test_health_answers_fast_and_uncached(tmp_path):
    with Server(migrated_sqlite_env(tmp_path)) as server:
        for path in ("/health", "/health/live", "/health/ready", "/health/detailed"):
            response = get(server, path)
            assert response.status_code == HTTPStatus.OK, (path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert "no-store" in response.headers["cache-control"]
            assert response.json()["status"] == "ok"
        detailed = get(server, "/health/detailed").json()
        assert detailed["service"] == "authsite"
        assert detailed["version"]
        assert detailed["environment"] == "development"
        assert detailed["timestamp"].endswith("+00:00")
        assert set(detailed["checks"]) == {"database", "cache"}
        assert all(c["latency_ms"] >= 0 for c in detailed["checks"].values())
        assert httpx.post(server.url + "/health/ready").status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_unreachable_database_fails_ready_but_not_live(tmp_path):
    """Liveness touches no dependency; readiness names the failing one and never hangs."""
    closed = free_port()
    env = base_env(
        tmp_path,
        DATABASE_URL=f"postgres://authsite:topsecret@127.0.0.1:{closed}/authsite",
        AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    with Server(env) as server:
        assert get(server, "/health/live").status_code == HTTPStatus.OK
        started = time.monotonic()
        ready = get(server, "/health/ready")
        assert time.monotonic() - started < TIMEOUT + 2
        assert ready.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert ready.json()["failed"] == ["database"]
        assert ready.json()["checks"]["cache"]["status"] == "ok"
        detailed = get(server, "/health/detailed")
        assert detailed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert detailed.json()["checks"]["database"]["status"] == "fail"
        assert "topsecret" not in ready.text + detailed.text
        assert "topsecret" not in server.output(), "the DSN password never reaches the log"


def test_unapplied_migrations_fail_ready(tmp_path):
    env = base_env(tmp_path, AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS="5")
    with Server(env) as server:
        ready = get(server, "/health/ready")
        assert ready.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "migration(s) not applied" in ready.json()["checks"]["database"]["error"]


def test_hung_redis_gives_503_within_the_timeout(tmp_path):
    hole = BlackHole()
    try:
        env = migrated_sqlite_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{hole.port}/0")
        with Server(env) as server:
            started = time.monotonic()
            ready = get(server, "/health/ready")
            assert time.monotonic() - started < TIMEOUT + 2
            assert ready.status_code == HTTPStatus.SERVICE_UNAVAILABLE
            assert ready.json()["failed"] == ["cache"]
    finally:
        hole.close()


def wait_for_status(server, path, status, within=10.0):
    deadline = time.monotonic() + within
    while True:
        response = get(server, path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.redis
def test_ready_follows_redis_going_down_and_coming_back(tmp_path, redis_url):
    target = httpx.URL(redis_url)
    proxy = TcpProxy(target.port or 6379, target.host).start()
    try:
        env = migrated_sqlite_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        with Server(env) as server:
            assert get(server, "/health/ready").status_code == HTTPStatus.OK
            proxy.cut()
            down = wait_for_status(server, "/health/ready", HTTPStatus.SERVICE_UNAVAILABLE)
            assert down.status_code == HTTPStatus.SERVICE_UNAVAILABLE
            assert down.json()["failed"] == ["cache"]
            proxy.restore()
            assert wait_for_status(server, "/health/ready", HTTPStatus.OK).status_code == 200
    finally:
        proxy.cut()


@pytest.mark.postgres
def test_ready_follows_postgres_going_down_and_coming_back(tmp_path, postgres_url):
    proxy = TcpProxy(postgres_url["port"], postgres_url["host"]).start()
    try:
        direct = base_env(tmp_path, DATABASE_URL=postgres_url["url"])
        assert manage(direct, "migrate", "--noinput").returncode == 0
        via_proxy = postgres_url["url"].replace(
            f"{postgres_url['host']}:{postgres_url['port']}", f"127.0.0.1:{proxy.port}"
        )
        env = base_env(
            tmp_path,
            DATABASE_URL=via_proxy,
            AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS=str(TIMEOUT),
            DATABASE_CONNECT_TIMEOUT="1",
        )
        with Server(env) as server:
            ready = get(server, "/health/ready")
            assert ready.status_code == HTTPStatus.OK, ready.text
            assert get(server, "/health/detailed").json()["database_vendor"] == "postgresql"
            proxy.cut()
            down = wait_for_status(server, "/health/ready", HTTPStatus.SERVICE_UNAVAILABLE)
            assert down.json()["failed"] == ["database"]
            proxy.restore()
            assert wait_for_status(server, "/health/ready", HTTPStatus.OK).status_code == 200
    finally:
        proxy.cut()


@pytest.mark.broker
def test_detailed_checks_the_broker_when_one_is_configured(tmp_path, broker_url):
    env = migrated_sqlite_env(tmp_path, CELERY_BROKER_URL=broker_url)
    with Server(env) as server:
        detailed = get(server, "/health/detailed")
        assert detailed.status_code == HTTPStatus.OK, detailed.text
        assert detailed.json()["checks"]["broker"]["status"] == "ok"
        assert detailed.json()["tasks"] == "broker"
    closed = base_env(
        tmp_path,
        CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    with Server(closed) as server:
        detailed = get(server, "/health/detailed")
        assert detailed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert detailed.json()["failed"] == ["broker"]
