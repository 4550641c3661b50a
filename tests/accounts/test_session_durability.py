"""An ended session stays ended whatever Redis does (accounts/session_store.py).

ASVS 7.4.1 / 7.4.5: sign-out and "sign out all other sessions" invalidate the
session on the server. The database is the authority; a copy in Redis that
survived a failed delete (Redis cut off at that moment, then back with its
data) must never sign the old cookie in again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts import sessions
from accounts.models import User, UserSession
from accounts.session_store import CACHE_KEY_PREFIX, SessionStore
from tests.support.own_redis import UNREACHABLE_REDIS, OwnRedis
from tests.support.servers import REPO, Server, TcpProxy, base_env, manage

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
ACCOUNT = "/accounts/account/"
END_OTHERS = "/accounts/account/sessions/end-others/"


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def cut_able(own_redis, settings):
    """The session cache reached through a proxy the test can cut (Redis keeps running)."""
    proxy = TcpProxy(own_redis.port).start()
    settings.CACHES = own_redis.cache_settings(port=proxy.port)
    yield proxy
    proxy.cut()


def signed_in(password, *, ip="192.0.2.10") -> Client:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(LOGIN, {"username": "alice", "password": password})
    assert response.status_code == 302, response.content[:300]
    return client


def cookie_of(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def browser_with(cookie: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client


def is_signed_in(client: Client) -> bool:
    return client.get(ACCOUNT).status_code == 200


def stale_copy_in_redis(own_redis, key: str) -> bool:
    return bool(own_redis.client().keys(f"*{CACHE_KEY_PREFIX}{key}"))


# --- through the hosted pages, with Redis cut off and restored with its data -------------


def test_a_sign_out_while_redis_is_cut_off_holds_when_redis_is_back(
    user, password, own_redis, cut_able
):
    """ASVS 7.4.1: the signed-out cookie stays signed out, though Redis kept its copy."""
    browser = signed_in(password)
    old_cookie = cookie_of(browser)
    assert is_signed_in(browser_with(old_cookie))  # now cached in Redis

    cut_able.cut()
    assert browser.post(LOGOUT).status_code == 302
    cut_able.restore()

    assert stale_copy_in_redis(own_redis, old_cookie)  # the fault really left a copy behind
    replay = browser_with(old_cookie).get(ACCOUNT)
    assert replay.status_code == 302 and replay["Location"].startswith(LOGIN)
    assert not Session.objects.filter(session_key=old_cookie).exists()


@pytest.mark.parametrize("path", ["end others", "end one", "password change ends them"])
def test_sessions_ended_from_another_browser_while_redis_is_cut_off_stay_ended(
    user, password, own_redis, cut_able, path
):
    """ASVS 7.4.5: sessions ended elsewhere stay ended, and the browser that ended them
    stays signed in, once Redis is back with the copies it held."""
    laptop, phone = signed_in(password), signed_in(password, ip="192.0.2.11")
    phone_cookie = cookie_of(phone)
    assert is_signed_in(phone) and is_signed_in(laptop)

    cut_able.cut()
    if path == "end others":
        assert laptop.post(END_OTHERS).status_code == 303
    elif path == "end one":
        row = UserSession.objects.get(session_key=phone_cookie)
        assert laptop.post(f"/accounts/account/sessions/{row.pk}/end/").status_code == 303
    else:  # password change, password reset, MFA removal and disableuser share this
        sessions.end_sessions(user, keep=cookie_of(laptop))
    cut_able.restore()

    assert stale_copy_in_redis(own_redis, phone_cookie)
    assert not is_signed_in(browser_with(phone_cookie))
    assert is_signed_in(laptop)


def test_a_signed_in_page_reads_no_session_row_when_the_copy_is_current(
    user, password, own_redis, cut_able
):
    """The check rides on the user row Django loads anyway: a cache hit costs no query
    on the session table, and the page costs no more queries than before."""
    browser = signed_in(password)
    browser.get(ACCOUNT)  # the copy is cached now
    with CaptureQueriesContext(connection) as queries:
        assert browser.get("/").status_code == 200  # a page that renders the user
    session_queries = [q["sql"] for q in queries if "django_session" in q["sql"]]
    print(f"\nqueries for a signed-in page served from the session cache: {len(queries)}")
    assert session_queries == []
    user_queries = [q for q in queries if '"accounts_user"' in q["sql"]]
    assert len(user_queries) == 1


# --- the store and the user check directly -------------------------------------------------


def request_with(key: str):
    request = RequestFactory().get("/")
    request.session = SessionStore(key)
    return request


def signed_in_store(user) -> SessionStore:
    client = Client()
    client.force_login(user)
    return SessionStore(cookie_of(client))


def test_a_cached_copy_is_trusted_without_a_session_query_while_nothing_ended(user, cut_able):
    key = signed_in_store(user).session_key
    assert sessions.get_user(request_with(key)) == user  # fills the cache
    request = request_with(key)
    with CaptureQueriesContext(connection) as queries:
        assert sessions.get_user(request) == user
    assert request.session.cached_epoch == User.objects.get().session_epoch
    assert len(queries) == 1  # the user row, as Django's own get_user


def test_a_copy_the_cache_missed_deleting_is_refused(user, cut_able, own_redis):
    key = signed_in_store(user).session_key
    sessions.get_user(request_with(key))
    cut_able.cut()
    SessionStore(key).delete()  # the cache delete fails
    cut_able.restore()

    request = request_with(key)
    assert stale_copy_in_redis(own_redis, key)
    assert not sessions.get_user(request).is_authenticated
    assert request.session.cached_epoch is None  # dropped and read from the database


def test_a_copy_the_cache_missed_updating_is_replaced_by_the_database_copy(user, cut_able):
    """A session saved while Redis was unreachable (a new password hash, a second factor)
    is read from the database afterwards, not from the older copy."""
    key = signed_in_store(user).session_key
    sessions.get_user(request_with(key))
    cut_able.cut()
    store = SessionStore(key)
    store["authsite_amr"] = ["pwd", "otp"]
    store.save()  # the database has it, the cache still has the older copy
    cut_able.restore()

    request = request_with(key)
    assert sessions.get_user(request) == user
    assert request.session["authsite_amr"] == ["pwd", "otp"]


def test_a_copy_made_before_a_sign_out_elsewhere_is_read_again_and_kept(user, cut_able):
    """Ending one session moves the user's epoch: the other sessions pay one database read
    at their next request, then are cached again."""
    keep = signed_in_store(user).session_key
    gone = signed_in_store(user).session_key
    for key in (keep, gone):
        sessions.get_user(request_with(key))
    sessions.end_sessions(user, keep=keep)

    first = request_with(keep)
    assert sessions.get_user(first) == user and first.session.cached_epoch is None
    second = request_with(keep)
    assert sessions.get_user(second) == user
    assert second.session.cached_epoch == User.objects.get().session_epoch


def test_anonymous_sessions_and_unreachable_redis_still_work(user, password, settings):
    settings.CACHES = UNREACHABLE_REDIS
    browser = signed_in(password)
    assert is_signed_in(browser)
    assert browser.post(LOGOUT).status_code == 302
    assert not is_signed_in(browser)


# --- a real server: gunicorn, httpx, Redis behind a proxy that is cut and restored ---------


# The server tests share one PostgreSQL database for the session: a name no other test uses.
SERVER_USER = "session-durability"


def login_over_http(base_url: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=base_url, timeout=10)
    form = browser.get(LOGIN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = browser.post(
        LOGIN,
        data={"username": SERVER_USER, "password": password, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.text[:300]
    return browser


def post_form(browser: httpx.Client, page: str, action: str) -> httpx.Response:
    html = browser.get(page).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return browser.post(action, data={"csrfmiddlewaretoken": token})


def signed_in_over_http(base_url: str, cookie: str) -> bool:
    with httpx.Client(base_url=base_url, timeout=10) as replay:
        replay.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
        return replay.get(ACCOUNT).status_code == 200


@pytest.mark.slow
@pytest.mark.postgres
def test_a_real_server_keeps_ended_sessions_ended_across_a_redis_cut(
    tmp_path, postgres_url, own_redis, password
):
    """Against gunicorn: sign out, and "sign out all other sessions" from a second browser,
    each while the proxy to Redis is cut; after restoring it the old cookies are refused."""
    proxy = TcpProxy(own_redis.port).start()
    env = base_env(
        tmp_path,
        DATABASE_URL=postgres_url["url"],
        REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
        # The cut opens the Redis circuit breaker; a short period lets the next sign-ins
        # be cached again, so each scenario starts with a copy in Redis to go stale.
        AUTHSITE_REDIS_BREAKER_SECONDS="0.2",
    )
    assert manage(env, "migrate", "--noinput").returncode == 0
    created = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createuser",
            SERVER_USER,
            "--email",
            f"{SERVER_USER}@example.com",
        ]
        + ["--password-stdin"],
        cwd=REPO,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    try:
        with Server(env) as server:
            cookie_name = settings.SESSION_COOKIE_NAME
            one = login_over_http(server.url, password)
            old = one.cookies[cookie_name]
            assert signed_in_over_http(server.url, old)
            proxy.cut()
            assert post_form(one, LOGOUT, LOGOUT).status_code == 302
            proxy.restore()
            assert stale_copy_in_redis(own_redis, old)
            assert not signed_in_over_http(server.url, old)
            time.sleep(0.5)  # past the breaker period the cut opened

            laptop = login_over_http(server.url, password)
            phone = login_over_http(server.url, password)
            phone_cookie = phone.cookies[cookie_name]
            assert signed_in_over_http(server.url, phone_cookie)
            proxy.cut()
            assert post_form(laptop, ACCOUNT, END_OTHERS).status_code == 303
            proxy.restore()
            assert stale_copy_in_redis(own_redis, phone_cookie)
            assert not signed_in_over_http(server.url, phone_cookie)
            assert laptop.get(ACCOUNT).status_code == 200
    finally:
        proxy.cut()
