"""Failed sign-ins survive the loss of Redis data (accounts/lockout.py, ``FailedSignIn``).

ASVS 6.3.1 / 6.1.1: the brute-force lockout cannot be bypassed by flushing or
restarting Redis between guesses. Each test runs its own redis-server on a
free port, never the shared one.
"""

from __future__ import annotations

import pytest

from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import FailedSignIn, SignInLock
from audit.events import Action
from audit.models import AuditEvent
from tests.support.own_redis import OwnRedis

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LOGIN = "/accounts/login/"
GENERIC_ERROR = "The username/e-mail or password is incorrect."
WRONG = "not the password at all"


@pytest.fixture
def own_redis(tmp_path, settings):
    server = OwnRedis(tmp_path).start()
    settings.CACHES = server.cache_settings()
    yield server
    server.stop()


def attempt(client, secret, ip="198.51.100.7"):
    return client.post(LOGIN, {"username": "alice", "password": secret}, REMOTE_ADDR=ip)


def fail(client, times):
    for _ in range(times):
        response = attempt(client, WRONG)
        assert response.status_code == 200 and GENERIC_ERROR in response.content.decode()


@pytest.mark.parametrize("loss", ["FLUSHALL", "restart"])
def test_the_fifth_failure_locks_though_redis_lost_the_first_four(user, password, own_redis, loss):
    """Four failures, Redis loses its data (FLUSHALL, or a restart of a server that keeps
    nothing on disk), a fifth failure: the account is locked for that address, and the
    right password is refused like a wrong one."""
    client = Client()
    fail(client, 4)
    assert own_redis.client().keys("*authsite:rl:signin-pair:*")  # Redis was counting
    own_redis.flushall() if loss == "FLUSHALL" else own_redis.restart()
    assert not own_redis.client().keys("*authsite:rl:signin-*")

    fail(client, 1)

    locked = AuditEvent.objects.get(action=Action.LOGIN_LOCKED)
    assert locked.details["failures"] == 5
    assert SignInLock.objects.filter(user=user).exists()
    refused = attempt(client, password)
    assert GENERIC_ERROR in refused.content.decode() and SESSION_KEY not in client.session
    assert attempt(Client(), password, ip="198.51.100.8").status_code == 302  # elsewhere: fine


def test_four_failures_flush_four_more_never_reach_the_password_check_unlocked(
    user, password, own_redis
):
    """The reported bypass: 4 failures, a flush, 4 more failures, then the right password.
    The lock comes with the fifth failure and the right password signs nobody in."""
    client = Client()
    fail(client, 4)
    own_redis.flushall()
    fail(client, 4)
    assert GENERIC_ERROR in attempt(client, password).content.decode()
    assert SESSION_KEY not in client.session


def test_a_good_sign_in_still_forgives_the_durable_failures(user, password, own_redis):
    client = Client()
    fail(client, 4)
    assert FailedSignIn.objects.count() == 4
    assert attempt(client, password).status_code == 302
    assert FailedSignIn.objects.count() == 0
    own_redis.flushall()
    fail(Client(), 4)
    assert attempt(Client(), password).status_code == 302


def test_a_good_sign_in_costs_one_extra_query_at_most(user, password, own_redis):
    """The happy path writes no failure row; it deletes its pair's rows (usually none)."""
    with CaptureQueriesContext(connection) as queries:
        assert attempt(Client(), password).status_code == 302
    durable = [q["sql"] for q in queries if "accounts_failedsignin" in q["sql"]]
    print(f"\nqueries for a successful sign-in: {len(queries)}, of them FailedSignIn: {durable}")
    assert len(durable) == 1 and durable[0].startswith("DELETE")


def test_unlocking_clears_the_durable_count_too(user, password, own_redis):
    from accounts import lockout

    client = Client()
    fail(client, 5)
    lockout.unlock_user(user, source="test")
    assert not FailedSignIn.objects.exists()
    fail(client, 1)
    assert attempt(client, password).status_code == 302
