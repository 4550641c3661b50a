"""Sign-in lockout (accounts/lockout.py): ASVS 6.1.1, 6.3.1, 6.3.4, 6.3.8 and 16.5.3."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from datetime import timedelta

import httpx
import pytest
import redis
from django_redis.cache import RedisCache

from django.contrib.auth import SESSION_KEY, authenticate
from django.core.cache import caches
from django.db import connections
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts import lockout
from accounts.models import SignInLock, User
from audit.events import Action
from audit.models import AuditEvent
from common.models import RateLimitWindow
from tests.support.own_redis import UNREACHABLE_REDIS
from tests.support.servers import REPO, Server, base_env, manage
from tests.support.workers import spare_redis_url

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
GENERIC_ERROR = "The username/e-mail or password is incorrect."
WRONG = "not the password at all"


def forget_counters() -> None:
    """Counters and lock mirrors live in the shared Redis and outlive a test."""
    try:
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            client = backend.client.get_client(write=True)
            keys = list(client.scan_iter(match=backend.make_key(f"{lockout.PREFIX}*")))
            if keys:
                client.delete(*keys)
    except Exception:  # the cache may be deliberately unreachable in a test
        pass


@pytest.fixture(autouse=True)
def _fresh_counters():
    forget_counters()
    yield
    forget_counters()


def post_login(client, username, password, *, ip="127.0.0.1", path=LOGIN):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def page(response) -> str:
    """The body without what differs per response anyway (the masked CSRF token)."""
    body = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)


def is_signed_in(client) -> bool:
    return SESSION_KEY in client.session


def fail_times(client, username, times, **kwargs):
    for _ in range(times):
        response = post_login(client, username, WRONG, **kwargs)
        assert response.status_code == 200
        assert GENERIC_ERROR in response.content.decode()


def failure_reasons() -> list[str]:
    events = AuditEvent.objects.filter(action=Action.LOGIN_FAILED).order_by("id")
    return [event.details["reason"] for event in events]


def test_five_wrong_passwords_lock_the_account_and_the_right_one_gets_the_same_answer(
    client, user, password
):
    fail_times(client, "alice", 4)
    fifth_wrong = post_login(client, "alice", WRONG)

    right_but_locked = post_login(client, "alice", password)

    assert right_but_locked.status_code == fifth_wrong.status_code == 200
    assert page(right_but_locked) == page(fifth_wrong)
    assert right_but_locked.context["form"].errors == {"__all__": [GENERIC_ERROR]}
    assert not is_signed_in(client)
    assert failure_reasons() == ["bad_credentials"] * 5 + ["locked"]
    locked = AuditEvent.objects.get(action=Action.LOGIN_LOCKED)
    assert locked.outcome == "failure" and locked.target_id == str(user.uuid)
    assert locked.details["failures"] == 5 and locked.details["seconds"] == 900


def test_the_lock_applies_whether_typed_as_username_or_email_in_any_case(client, user, password):
    fail_times(client, "alice", 3)
    fail_times(client, "ALICE@example.com", 2)
    assert not is_signed_in(client)

    response = post_login(client, "Alice", password)

    assert GENERIC_ERROR in response.content.decode()
    assert not is_signed_in(client)


def test_an_unknown_account_locks_alike_so_locks_reveal_no_accounts(client, user, password):
    fail_times(client, "alice", 5)
    known = post_login(client, "alice", password)
    fail_times(client, "nobody", 5)
    unknown = post_login(client, "nobody", password)

    assert known.status_code == unknown.status_code == 200
    assert page(known).replace('value="alice"', "") == page(unknown).replace('value="nobody"', "")
    assert known.context["form"].errors == unknown.context["form"].errors
    assert SignInLock.objects.filter(user=None, source_ip="127.0.0.1").exclude(login_key="").count()
    assert failure_reasons().count("locked") == 2


def test_the_victim_still_signs_in_from_another_address(client, user, password):
    fail_times(client, "alice", 5, ip="198.51.100.66")
    assert (
        GENERIC_ERROR in post_login(client, "alice", password, ip="198.51.100.66").content.decode()
    )

    response = post_login(Client(), "alice", password, ip="192.0.2.10")

    assert response.status_code == 302


def test_a_successful_sign_in_forgives_earlier_failures(client, user, password):
    fail_times(client, "alice", 4)
    assert post_login(client, "alice", password).status_code == 302
    other = Client()
    fail_times(other, "alice", 4)

    assert post_login(other, "alice", password).status_code == 302
    assert not SignInLock.objects.exists()


def test_spraying_many_accounts_from_one_address_locks_the_address(
    client, user, password, settings
):
    settings.AUTHSITE_LOGIN_FAILURES_PER_IP = 8
    for number in range(8):
        post_login(client, f"user{number}@example.com", WRONG, ip="203.0.113.9")

    refused = post_login(client, "alice", password, ip="203.0.113.9")
    elsewhere = post_login(Client(), "alice", password, ip="203.0.113.10")

    assert GENERIC_ERROR in refused.content.decode() and not is_signed_in(client)
    assert elsewhere.status_code == 302
    address_lock = SignInLock.objects.get(login_key="", source_ip="203.0.113.9")
    assert address_lock.failures == 8
    event = AuditEvent.objects.get(action=Action.LOGIN_LOCKED)
    assert event.details["scope"] == "address" and event.target_id == "203.0.113.9"


def lock_once(user, ip, now):
    for _ in range(5):
        attempt = lockout.start_attempt("alice", user, ip, now=now)
        assert not attempt.locked
        started = lockout.record_failure(attempt)
    return started


def test_each_new_lock_of_the_same_source_lasts_twice_as_long_up_to_the_cap(user, settings):
    settings.AUTHSITE_LOGIN_LOCK_MAX_SECONDS = 3000
    now = timezone.now()
    durations = []
    for _ in range(3):
        lock = lock_once(user, "192.0.2.7", now)
        durations.append((lock.locked_until - now).total_seconds())
        assert lockout.start_attempt("alice", user, "192.0.2.7", now=now).locked
        now = lock.locked_until + timedelta(seconds=1)  # the lock has ended
        after = lockout.start_attempt("alice", user, "192.0.2.7", now=now)
        assert not after.locked
        lockout.record_success(after)  # takes the attempt back

    assert durations == [900, 1800, 3000]
    assert SignInLock.objects.get().level == 3


def test_back_off_starts_again_long_after_the_last_lock(user):
    now = timezone.now()
    first = lock_once(user, "192.0.2.8", now)
    much_later = first.locked_until + timedelta(days=2)

    second = lock_once(user, "192.0.2.8", much_later)

    assert second.level == 1 and second.locked_until - much_later == timedelta(seconds=900)


def test_a_lock_from_the_hosted_page_also_closes_the_admin_login(client, user, password):
    """ASVS 6.3.4: lock alice via path 1, then try path 2 → still locked."""
    user.is_staff = True
    user.save()
    fail_times(client, "alice", 5)

    admin = Client()
    response = post_login(admin, "alice@example.com", password, path=ADMIN_LOGIN)

    assert response.status_code == 200 and not is_signed_in(admin)
    assert failure_reasons()[-1] == "locked"
    assert (
        post_login(Client(), "alice", password, ip="192.0.2.99", path=ADMIN_LOGIN).status_code
        == 302
    )


def test_a_lock_from_the_admin_login_also_closes_the_hosted_page(client, user, password):
    user.is_staff = True
    user.save()
    for _ in range(5):
        post_login(client, "alice@example.com", WRONG, path=ADMIN_LOGIN)

    response = post_login(Client(), "alice", password)

    assert GENERIC_ERROR in response.content.decode()


def test_any_authenticate_call_is_covered_too(user, password):
    request = RequestFactory().post("/api/anything")
    request.client_ip = "192.0.2.50"
    for _ in range(5):
        assert authenticate(request, username="alice", password=WRONG) is None

    assert authenticate(request, username="alice", password=password) is None
    assert failure_reasons()[-1] == "locked"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_guesses_get_no_more_than_five_password_checks(
    user, password, settings
):
    assert isinstance(caches["default"], RedisCache)
    # A fast hasher, so 20 threads never wait longer than the pool's timeout for a
    # database connection; the counting under test is the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user.set_password(password)
    user.save()
    start = threading.Barrier(20)

    def guess():
        request = RequestFactory().post(LOGIN)
        request.client_ip = "203.0.113.77"
        try:
            start.wait()
            authenticate(request, username="alice", password=WRONG)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    reasons = failure_reasons()
    assert len(reasons) == 20
    assert reasons.count("bad_credentials") == 5 and reasons.count("locked") == 15
    assert AuditEvent.objects.filter(action=Action.LOGIN_LOCKED).count() == 1
    assert SignInLock.objects.get().failures == 5


@pytest.mark.redis
def test_a_lock_survives_a_redis_flush(client, user, password, settings, redis_url):
    redis_cache = {"BACKEND": "django_redis.cache.RedisCache", "KEY_PREFIX": "authsite"}
    settings.CACHES = {"default": {**redis_cache, "LOCATION": spare_redis_url(redis_url)}}
    fail_times(client, "alice", 5)
    connection = caches["default"].client.get_client(write=True)
    spare_db = int(spare_redis_url(redis_url).rsplit("/", 1)[1])
    assert connection.connection_pool.connection_kwargs["db"] == spare_db  # never the suite's
    connection.flushdb()

    response = post_login(client, "alice", password)

    assert GENERIC_ERROR in response.content.decode() and not is_signed_in(client)
    # The refusal put the mirror back, so the next refusal needs no database query.
    assert connection.keys("*authsite:rl:signin-lock:*")
    forget_counters()  # while this test's cache settings are in force


@pytest.mark.postgres
def test_with_redis_unreachable_sign_in_works_and_locks_hold_in_postgres(
    client, user, password, settings, caplog
):
    settings.CACHES = UNREACHABLE_REDIS
    # The lockout under test; sessions are the next test's concern.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"

    assert post_login(Client(), "alice", password).status_code == 302
    fail_times(client, "alice", 4)
    assert RateLimitWindow.objects.get(scope="signin-pair").count == 4
    fail_times(client, "alice", 1)
    refused = post_login(client, "alice", password)

    assert refused.status_code == 200 and GENERIC_ERROR in refused.content.decode()
    assert not is_signed_in(client)
    assert SignInLock.objects.count() == 1
    assert AuditEvent.objects.get(action=Action.LOGIN_LOCKED).details["store"] == "database"
    assert "Redis is unavailable" in caplog.text
    assert post_login(Client(), "alice", password, ip="192.0.2.31").status_code == 302


@pytest.mark.redis
def test_with_redis_unreachable_the_configured_session_engine_still_signs_in(
    client, user, password, settings
):
    settings.CACHES = UNREACHABLE_REDIS
    assert settings.SESSION_ENGINE == "accounts.session_store"  # Redis in front of the database

    assert post_login(client, "alice", password).status_code == 302


@pytest.mark.postgres
@pytest.mark.redis
def test_a_lock_taken_while_redis_was_down_holds_when_it_is_back(client, user, password, settings):
    redis_caches = settings.CACHES
    settings.CACHES = UNREACHABLE_REDIS
    fail_times(client, "alice", 5)
    settings.CACHES = redis_caches

    assert GENERIC_ERROR in post_login(client, "alice", password).content.decode()


def test_redis_outage_shows_in_health_detailed(client, settings):
    settings.CACHES = UNREACHABLE_REDIS

    response = client.get("/health/detailed")

    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "fail"
    assert "cache" in response.json()["failed"]


@pytest.fixture
def console(db) -> Client:
    admin = User.objects.create_superuser(email="root@example.com", password="x" * 20)
    client = Client()
    client.force_login(admin)
    return client


def test_admin_lists_locks_and_clearing_them_lets_the_user_back_in(client, user, password, console):
    fail_times(client, "alice", 5)
    listing = console.get("/admin/accounts/signinlock/", {"q": "alice@example"})
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    by_address = console.get("/admin/accounts/signinlock/", {"q": "127.0.0"})
    assert "1 sign-in lock" in by_address.content.decode()

    response = console.post(
        "/admin/accounts/signinlock/",
        {"action": "clear_locks", "_selected_action": [SignInLock.objects.get().pk]},
    )

    assert response.status_code == 302
    assert not SignInLock.objects.exists()
    unlocked = AuditEvent.objects.get(action=Action.USER_UNLOCKED)
    assert unlocked.actor_label == "root@example.com" and unlocked.target_id == str(user.uuid)
    assert post_login(client, "alice", password).status_code == 302


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_two_servers_sharing_redis_lock_after_five_failures_in_total(
    tmp_path, postgres_url, redis_url, password
):
    shared_redis = spare_redis_url(redis_url)
    env = base_env(tmp_path, DATABASE_URL=postgres_url["url"], REDIS_URL=shared_redis)
    assert manage(env, "migrate", "--noinput").returncode == 0
    created = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createuser",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        cwd=REPO,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr

    with Server(env) as one, Server(env) as two:
        browsers = [httpx.Client(base_url=one.url), httpx.Client(base_url=two.url)]

        def attempt(browser, secret):
            form = browser.get(LOGIN)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
            data = {"username": "alice", "password": secret, "csrfmiddlewaretoken": token}
            return browser.post(LOGIN, data=data)

        try:
            for number in range(5):
                response = attempt(browsers[number % 2], WRONG)
                assert response.status_code == 200 and GENERIC_ERROR in response.text
            for browser in browsers:
                refused = attempt(browser, password)
                assert refused.status_code == 200 and GENERIC_ERROR in refused.text
        finally:
            for browser in browsers:
                browser.close()
            # The servers' counters and locks outlive them: leave the spare database clean.
            leftovers = redis.Redis.from_url(shared_redis)
            for key in leftovers.scan_iter(match=f"*{lockout.PREFIX}*"):
                leftovers.delete(key)
