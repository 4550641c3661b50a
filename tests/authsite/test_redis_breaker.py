"""A slow Redis costs one timeout per process per period, not several per request.

Measured before: token and introspection requests stalled for up to 5 s while
Redis was slow, each Redis call waiting out its own 1 s timeout. The circuit
breaker (authsite/redis_breaker.py) stops calling a Redis that just failed for
``AUTHSITE_REDIS_BREAKER_SECONDS``; meanwhile every caller takes its "Redis is
down" fallback: the deny list falls back to PostgreSQL, so a revoked token stays
revoked (RFC 7009 §2.2, RFC 7662 §2.2).

The slow Redis is a real redis-server of the test's own, stopped with SIGSTOP: it
accepts connections (the kernel does) and never answers, as a hung server does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
import redis

from django.core.cache import cache

from authsite import redis_breaker
from oauth import client_auth, revocation
from oauth.models import AccessToken
from tests.support.oauth import introspect, make_client, revoke, userinfo
from tests.support.servers import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TIMEOUT = 1.0  # the production SOCKET_TIMEOUT and SOCKET_CONNECT_TIMEOUT
BREAKER_SECONDS = 3.0


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, on a free port; stopped and resumed at will."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for the slow-Redis tests"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    direct = redis.Redis(port=port, socket_timeout=5)
    deadline = time.monotonic() + 10
    while True:
        try:
            direct.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield port, process, direct
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def slow_redis_settings(settings, own_redis):
    port, process, direct = own_redis
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "KEY_PREFIX": "authsite",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": TIMEOUT, "SOCKET_TIMEOUT": TIMEOUT},
        }
    }
    settings.AUTHSITE_REDIS_BREAKER_SECONDS = BREAKER_SECONDS
    return own_redis


def token(http, app, secret):
    return http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, secret)
    )


def test_a_hung_redis_costs_one_timeout_not_one_per_call(http, slow_redis_settings, capsys):
    port, process, direct = slow_redis_settings
    app, secret = make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])
    live = token(http, app, secret).json()["access_token"]
    revoked = token(http, app, secret).json()["access_token"]
    assert revoke(http, app, secret, revoked).status_code == 200
    # The deny list entry (written after commit in production) is in Redis too.
    row = AccessToken.objects.get(token_checksum__isnull=False, revoked__isnull=False)
    assert revocation.deny([(row.jti, row.expires)])

    os.kill(process.pid, signal.SIGSTOP)  # Redis hangs: connections accepted, no answers
    timings = []
    try:
        for _ in range(20):
            started = time.monotonic()
            response = token(http, app, secret)
            timings.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
        started = time.monotonic()
        assert introspect(http, app, secret, revoked).json() == {"active": False}
        assert introspect(http, app, secret, live).json()["active"] is True
        assert userinfo(http, revoked).status_code == 401
        introspection_time = time.monotonic() - started
    finally:
        os.kill(process.pid, signal.SIGCONT)
    total = sum(timings)
    with capsys.disabled():
        print(
            f"\n20 token requests with Redis hung: total {total:.2f}s, "
            f"slowest {max(timings):.2f}s, median {sorted(timings)[10]:.3f}s "
            f"(each Redis call would wait {TIMEOUT}s); 3 introspection/userinfo "
            f"calls {introspection_time:.2f}s"
        )
    # Without the breaker: several timeouts per request, 20+ seconds in all.
    assert total < 2 * TIMEOUT + 2, timings
    assert sorted(timings)[18] < TIMEOUT / 2, timings  # only the first request waited
    assert introspection_time < TIMEOUT


def test_redis_is_used_again_once_it_recovers(http, slow_redis_settings):
    port, process, direct = slow_redis_settings
    app, secret = make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])
    breaker = redis_breaker.breaker_for(f"127.0.0.1:{port}")

    os.kill(process.pid, signal.SIGSTOP)
    try:
        assert token(http, app, secret).status_code == 200
        assert breaker.is_open
    finally:
        os.kill(process.pid, signal.SIGCONT)
    direct.flushall()

    # Still within the period: no call reaches Redis, nothing is cached there.
    assert token(http, app, secret).status_code == 200
    assert not list(direct.scan_iter(f"*{client_auth.client_cache_key(app.client_id)}"))

    time.sleep(BREAKER_SECONDS + 0.2)
    assert token(http, app, secret).status_code == 200
    assert not breaker.is_open
    assert list(direct.scan_iter(f"*{client_auth.client_cache_key(app.client_id)}"))
    cache.set("authsite:test-breaker", "back")
    assert cache.get("authsite:test-breaker") == "back"


def test_a_revoked_token_stays_revoked_while_the_breaker_is_open(http, slow_redis_settings):
    """The deny list falls back to PostgreSQL; the breaker never makes it fail open."""
    port, process, direct = slow_redis_settings
    app, secret = make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])
    os.kill(process.pid, signal.SIGSTOP)
    try:
        revoked = token(http, app, secret).json()["access_token"]
        assert redis_breaker.breaker_for(f"127.0.0.1:{port}").is_open
        # Revoked while Redis hangs: only PostgreSQL records it.
        assert revoke(http, app, secret, revoked).status_code == 200
        for _ in range(3):
            assert introspect(http, app, secret, revoked).json() == {"active": False}
            assert userinfo(http, revoked).status_code == 401
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_after_the_period_one_trial_call_goes_through_and_the_rest_wait(settings):
    settings.AUTHSITE_REDIS_BREAKER_SECONDS = 0.2
    breaker = redis_breaker.Breaker("192.0.2.1:6379")
    breaker.failed(redis.TimeoutError("slow"))
    with pytest.raises(redis_breaker.CircuitOpenError):
        breaker.before_call()

    time.sleep(0.25)
    breaker.before_call()  # the trial
    with pytest.raises(redis_breaker.CircuitOpenError):
        breaker.before_call()  # others fail fast while it runs
    breaker.succeeded()

    assert not breaker.is_open
    breaker.before_call()


def test_a_failing_trial_opens_the_breaker_for_another_period(settings):
    settings.AUTHSITE_REDIS_BREAKER_SECONDS = 0.2
    breaker = redis_breaker.Breaker("192.0.2.1:6379")
    breaker.failed(redis.ConnectionError("refused"))
    time.sleep(0.25)
    breaker.before_call()
    breaker.failed(redis.TimeoutError("still slow"))

    with pytest.raises(redis_breaker.CircuitOpenError):
        breaker.before_call()
    assert breaker.is_open


def test_each_redis_server_has_its_own_breaker():
    redis_breaker.breaker_for("192.0.2.1:6379").failed(redis.TimeoutError("slow"))

    with pytest.raises(redis_breaker.CircuitOpenError):
        redis_breaker.breaker_for("192.0.2.1:6379").before_call()
    redis_breaker.breaker_for("192.0.2.2:6379").before_call()


@pytest.mark.postgres
def test_the_sign_in_lockout_holds_in_postgres_while_redis_hangs(
    slow_redis_settings, user, password
):
    """ASVS 6.3.1: a hung Redis neither bypasses the lockout nor stalls every attempt."""
    from django.test import Client

    from accounts.models import SignInLock

    port, process, direct = slow_redis_settings
    browser = Client()

    def sign_in(secret):
        return browser.post(
            "/accounts/login/", {"username": "alice", "password": secret}, REMOTE_ADDR="192.0.2.9"
        )

    os.kill(process.pid, signal.SIGSTOP)
    try:
        timings = []
        for secret in ["not the password at all"] * 5 + [password]:
            started = time.monotonic()
            refused = sign_in(secret)
            timings.append(round(time.monotonic() - started, 2))
            assert refused.status_code == 200
    finally:
        os.kill(process.pid, signal.SIGCONT)

    assert refused.status_code == 200
    assert "The username/e-mail or password is incorrect." in refused.content.decode()
    assert SignInLock.objects.count() == 1
    print(f"\nsign-in attempts with Redis hung: {timings} s")
    # A Redis timeout at most once per breaker period; the rest is password hashing.
    assert sum(t >= TIMEOUT for t in timings) <= 1 + sum(timings) // BREAKER_SECONDS, timings
