"""The fast path's router and machinery, in-process (oauth/fastpath/).

What Django's request machinery gives every answer, the router must give too:
a request id, the security headers, the ALLOWED_HOSTS check, a body cap, a
logged JSON 500 instead of a bare one; and a request it declines must reach
Django exactly as it was sent. The client memo must forget a client on every
kind of change, and group commit must batch rows and fail a failed batch
loudly. The answers themselves are compared with Django's in
tests/oauth/test_fastpath_parity.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import httpx
import pytest
import redis.asyncio as redis_asyncio

from django.test import Client

from common.conf import authsite_settings
from common.logging import RequestContextFilter
from oauth.exceptions import TokenNotStoredError
from oauth.fastpath import app as fastpath
from oauth.fastpath import userinfo
from oauth.fastpath.backends import Backends, Statement
from oauth.fastpath.clients import Clients
from oauth.fastpath.http import Request as HttpRequest
from oauth.fastpath.http import Response
from oauth.models import Application
from tests.support.oauth import make_client

TOKEN = "/oauth/token"


class Recorder:
    """Stands for Django behind the router: records what reached it, answers 299."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        if scope["type"] == "http":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        self.calls.append((scope, body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def request(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def router(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    django = Recorder()
    app = fastpath.FastPath(django)
    return app, django


def with_handler(app, handler, path=TOKEN) -> None:
    name, _ = app.routes[path]
    app.routes[path] = (name, handler)


# --- the router ----------------------------------------------------------------------------------


def test_other_paths_reach_django_untouched(router):
    app, django = router
    response = request(app, "POST", "/accounts/login/", content=b"a=1")
    assert response.status_code == 299 and response.text == "django"
    scope, body = django.calls[0]
    assert body == b"a=1"
    assert "x-request-id" not in {name.decode() for name, _ in scope["headers"]}


def test_a_declined_request_reaches_django_with_its_body_and_request_id(router):
    app, django = router

    async def decline(request):
        assert request.body == b"grant_type=x&y=%20"
        return None

    with_handler(app, decline)
    response = request(
        app,
        "POST",
        TOKEN,
        content=b"grant_type=x&y=%20",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Request-ID": "abc-1"},
    )
    assert response.status_code == 299
    scope, body = django.calls[0]
    assert body == b"grant_type=x&y=%20"
    headers = [(name.decode(), value.decode()) for name, value in scope["headers"]]
    assert headers.count(("x-request-id", "abc-1")) == 1
    assert ("content-type", "application/x-www-form-urlencoded") in headers


def test_a_declined_request_without_a_request_id_gets_the_one_the_router_chose(router):
    app, django = router

    async def decline(request):
        decline.request_id = request.request_id
        return None

    with_handler(app, decline)
    request(app, "POST", TOKEN, content=b"")
    scope, _ = django.calls[0]
    assert (b"x-request-id", decline.request_id.encode()) in scope["headers"]


def test_an_answer_carries_the_request_id_and_the_security_headers(router):
    app, _ = router

    async def answer(request):
        return Response.json({"ok": True}, 200, [("Cache-Control", "no-store")])

    with_handler(app, answer)
    response = request(app, "POST", TOKEN, headers={"X-Request-ID": "req.42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req.42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["content-length"] == str(len(response.content))


def test_an_insane_request_id_is_replaced(router):
    app, _ = router

    async def answer(request):
        return Response.json({})

    with_handler(app, answer)
    response = request(app, "POST", TOKEN, headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


def test_an_exception_in_a_handler_is_a_logged_json_500_with_the_request_id(router):
    """Never a bare uvicorn 500: the traceback is logged with the request id, the client
    gets JSON that names the request id to quote."""
    app, django = router
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    keep.addFilter(RequestContextFilter())
    logger = logging.getLogger("oauth.fastpath.app")
    logger.addHandler(keep)

    async def boom(request):
        raise RuntimeError("handler exploded")

    with_handler(app, boom)
    try:
        response = request(app, "POST", TOKEN, headers={"X-Request-ID": "trace-me"})
    finally:
        logger.removeHandler(keep)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"] == "trace-me"
    assert response.json()["error"] == "server_error"
    assert not django.calls
    [record] = [r for r in records if r.levelno == logging.ERROR]
    assert record.exc_info and "handler exploded" in str(record.exc_info[1])
    assert record.request_id == "trace-me"


def test_a_body_over_64_kib_is_a_json_413(router):
    app, django = router
    response = request(
        app,
        "POST",
        TOKEN,
        content=b"token=" + b"x" * (64 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    assert "x-request-id" in response.headers
    assert not django.calls


def test_a_chunked_body_over_64_kib_is_a_json_413(router):
    app, django = router

    async def chunks():
        for _ in range(70):
            yield b"x" * 1024

    response = request(app, "POST", TOKEN, content=chunks())
    assert response.status_code == 413
    assert not django.calls


def test_a_host_outside_allowed_hosts_is_a_json_400(router):
    app, django = router
    response = request(app, "GET", "/.well-known/jwks.json", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The Host header names a host this server does not serve.",
    }
    assert not django.calls


@pytest.mark.parametrize(
    ("mode", "engine", "redis_url", "expected"),
    [
        ("auto", "django.db.backends.postgresql", "redis://x", True),
        ("auto", "django.db.backends.sqlite3", "redis://x", False),
        ("auto", "django.db.backends.postgresql", "", False),
        ("on", "django.db.backends.postgresql", "redis://x", True),
        ("on", "django.db.backends.sqlite3", "", False),
        ("off", "django.db.backends.postgresql", "redis://x", False),
    ],
)
def test_the_setting_decides_whether_the_fast_path_runs(
    settings, monkeypatch, mode, engine, redis_url, expected
):
    settings.AUTHSITE_FAST_PATH = mode
    settings.AUTHSITE_REDIS_URL = redis_url
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", engine)
    assert fastpath.enabled() is expected
    inner = Recorder()
    assert (fastpath.wrap(inner) is inner) is not expected


# --- the client memo -----------------------------------------------------------------------------


def run(backends: Backends, coroutine_function):
    """Run one step on a fresh loop (the ORM steps between them must not run on one)."""

    async def step():
        backends.redis = redis_asyncio.Redis.from_url(authsite_settings.REDIS_URL)
        try:
            return await coroutine_function()
        finally:
            await backends.redis.aclose()

    return asyncio.run(step())


def change_by_save(app):
    app.name = "Renamed"
    app.save()


def change_by_delete(app):
    app.delete()


def change_by_queryset_update(app):
    Application.objects.filter(pk=app.pk).update(name="Renamed")


def change_by_bulk_update(app):
    app.name = "Renamed"
    Application.objects.bulk_update([app], ["name"])


def change_by_queryset_delete(app):
    Application.objects.filter(pk=app.pk).delete()


def change_by_admin_bulk_delete(app):
    from accounts.models import User  # lazy: the user model is only needed by this path

    admin = User.objects.create_superuser(
        email="root@example.com", username="root", password="a long enough password 1"
    )
    console = Client()
    console.force_login(admin)
    response = console.post(
        "/admin/oauth/application/",
        {"action": "delete_selected", "_selected_action": [app.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Application.objects.filter(pk=app.pk).exists()


CHANGES = {
    "Model.save()": change_by_save,
    "Model.delete()": change_by_delete,
    "QuerySet.update()": change_by_queryset_update,
    "QuerySet.bulk_update()": change_by_bulk_update,
    "QuerySet.delete()": change_by_queryset_delete,
    "admin delete selected": change_by_admin_bulk_delete,
}


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_change_to_a_client_clears_the_workers_memo(redis_url, change):
    app, _secret = make_client(name="Memoised", grant_types=["client_credentials"])
    backends = Backends()
    clients = Clients(backends)
    clients.memo[app.client_id] = (time.monotonic(), app)
    run(backends, backends.poll_versions_once)  # the version as it is now
    run(backends, backends.poll_versions_once)
    assert app.client_id in clients.memo  # nothing changed: kept

    change(app)

    run(backends, backends.poll_versions_once)
    assert clients.memo == {}


# --- group commit --------------------------------------------------------------------------------


@pytest.fixture
def probe_table(transactional_db):
    from django.db import connection  # lazy: only this fixture talks to the database directly

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE fastpath_probe (value int, tx bigint)")
    yield "fastpath_probe"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE fastpath_probe")


@pytest.mark.postgres
@pytest.mark.redis
def test_concurrent_rows_commit_together_and_each_waits_for_its_commit(probe_table, redis_url):
    statement = Statement(
        "probe rows",
        f"INSERT INTO {probe_table} SELECT v, txid_current() FROM unnest(%s::int[]) AS t(v)",
    )
    backends = Backends()

    async def many():
        try:
            await asyncio.gather(*(backends.commit(statement, (n,)) for n in range(300)))
        finally:
            await backends.close()

    run(backends, many)
    from django.db import connection  # lazy: see probe_table

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sum(c), count(*), max(c) "
            f"FROM (SELECT count(*) AS c FROM {probe_table} GROUP BY tx) AS batches"
        )
        rows, transactions, largest = cursor.fetchone()
    assert rows == 300
    assert transactions < 300 / 10  # batched, not one transaction per row
    assert largest <= 128


@pytest.mark.postgres
@pytest.mark.redis
def test_a_failed_batch_fails_every_request_in_it_and_is_logged(transactional_db, caplog):
    statement = Statement(
        "broken rows", "INSERT INTO no_such_table SELECT * FROM unnest(%s::int[])"
    )
    backends = Backends()

    async def many():
        try:
            return await asyncio.gather(
                *(backends.commit(statement, (n,)) for n in range(5)), return_exceptions=True
            )
        finally:
            await backends.close()

    with caplog.at_level(logging.ERROR, logger="oauth.fastpath.backends"):
        outcomes = run(backends, many)
    assert all(isinstance(outcome, TokenNotStoredError) for outcome in outcomes)
    assert any(record.exc_info for record in caplog.records)


# --- userinfo ------------------------------------------------------------------------------------

USERINFO = "/oauth/userinfo"


def userinfo_request(method="GET", *, query=b"", headers=None, body=b"", repeated=()):
    return HttpRequest(
        method=method,
        path=USERINFO,
        query=query,
        headers=headers or {},
        body=body,
        client_ip="127.0.0.1",
        request_id="r",
        repeated=frozenset(repeated),
    )


JWT = "aaa.bbb.ccc"
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}

PRESENTED = {
    "header": (userinfo_request(headers={"authorization": f"Bearer {JWT}"}), JWT),
    "header, POST": (userinfo_request("POST", headers={"authorization": f"Bearer {JWT}"}), JWT),
    "lower-case scheme": (userinfo_request(headers={"authorization": f"bearer {JWT}"}), JWT),
    "form body": (
        userinfo_request("POST", headers=FORM_HEADERS, body=f"access_token={JWT}".encode()),
        JWT,
    ),
    "nothing": (userinfo_request(), userinfo.NO_TOKEN),
    "nothing, POST": (userinfo_request("POST"), userinfo.NO_TOKEN),
    "GET ignores a body": (
        userinfo_request(headers=FORM_HEADERS, body=f"access_token={JWT}".encode()),
        userinfo.NO_TOKEN,
    ),
    "HEAD": (userinfo_request("HEAD", headers={"authorization": f"Bearer {JWT}"}), None),
    "a query": (
        userinfo_request(query=b"a=1", headers={"authorization": f"Bearer {JWT}"}),
        None,
    ),
    "repeated header": (
        userinfo_request(headers={"authorization": f"Bearer {JWT}"}, repeated=["authorization"]),
        None,
    ),
    "Basic": (userinfo_request(headers={"authorization": "Basic YTpi"}), None),
    "two spaces": (userinfo_request(headers={"authorization": f"Bearer  {JWT}"}), None),
    "opaque token": (userinfo_request(headers={"authorization": "Bearer abcdef"}), None),
    "header and body": (
        userinfo_request(
            "POST",
            headers={**FORM_HEADERS, "authorization": f"Bearer {JWT}"},
            body=f"access_token={JWT}".encode(),
        ),
        None,
    ),
    "JSON body": (
        userinfo_request(
            "POST", headers={"content-type": "application/json"}, body=b'{"access_token": 1}'
        ),
        None,
    ),
    "empty body, another content type": (
        userinfo_request(
            "POST", headers={"content-type": "text/plain", "authorization": f"Bearer {JWT}"}
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", PRESENTED)
def test_userinfo_reads_the_token_where_djangos_view_does(case):
    """RFC 6750 §2.1, §2.2: the header or a form body; anything else is Django's to judge."""
    request, expected = PRESENTED[case]
    assert userinfo.presented_token(request) == expected


def _mint_for(user, scope: str, *, expires_in: int = 600):
    from datetime import timedelta
    from types import SimpleNamespace

    from oauth2_provider.models import set_token_value

    from django.utils import timezone

    from oauth import tokens
    from oauth.models import AccessToken

    app, _secret = make_client(name="Userinfo RP")
    request = SimpleNamespace(
        client=app, grant_type="authorization_code", user=user, scopes=scope.split(), resource=None
    )
    access = tokens.mint_access_token(request)
    row = AccessToken(
        user=user,
        application=app,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(row, access)
    row.save()
    return access, row


def _get(http, token):
    return http.get(USERINFO, headers={"Authorization": f"Bearer {token}"})


def serve(app, steps):
    """Run ``steps(http)`` against ``app`` on one loop (its pool lives on that loop);
    ORM work inside the steps goes through ``asyncio.to_thread``."""

    async def go():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                return await steps(http)
        finally:
            await app.backends.close()

    return asyncio.run(go())


@pytest.mark.postgres
@pytest.mark.redis
def test_userinfo_follows_profile_changes_and_deactivation_at_once(
    router, transactional_db, user, redis_url
):
    """No memo of the user: a changed profile shows in the next answer, and a
    deactivated user's token is ``invalid_token`` (RFC 6750 §3.1) on the next request,
    as on Django's path. The claims are the validator's, for the same user and scopes."""
    from django.contrib.auth.models import Group

    from oauth.validators import AuthsiteOAuth2Validator

    app, django = router
    scope = "openid profile email roles"
    token, _row = _mint_for(user, scope)

    def expected():
        user.refresh_from_db()
        request = SimpleNamespace(user=user, scopes=scope.split())
        return AuthsiteOAuth2Validator().get_userinfo_claims(request)

    def rename():
        user.first_name = "Renamed"
        user.save()
        user.groups.add(Group.objects.create(name="auditors"))

    def deactivate():
        type(user).objects.filter(pk=user.pk).update(is_active=False)

    async def steps(http):
        first = await _get(http, token)
        await asyncio.to_thread(rename)
        second = await _get(http, token)
        await asyncio.to_thread(deactivate)
        third = await _get(http, token)
        return first, second, third

    before = expected()
    first, second, third = serve(app, steps)
    assert django.calls == []  # all three answered natively
    assert first.status_code == 200 and first.json() == before
    assert (
        first.headers["cache-control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    )
    assert "expires" in first.headers and "pragma" not in first.headers
    assert second.json()["name"].startswith("Renamed") and second.json()["roles"] == ["auditors"]
    assert second.json() == expected()
    assert third.status_code == 401
    assert third.json()["error"] == "invalid_token"
    assert third.headers["www-authenticate"] == 'Bearer realm="authsite", error="invalid_token"'


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("redis_state", ["flushed", "unreachable"])
def test_userinfo_refuses_a_revoked_token_without_the_deny_list(
    router, transactional_db, user, redis_url, redis_state
):
    """Revoked, then the deny list lost (a flush) or Redis gone: the row still says
    revoked, and the token gets ``invalid_token``, never claims."""
    from oauth import revocation

    app, django = router
    token, row = _mint_for(user, "openid profile")
    live, _ = _mint_for(user, "openid")
    row.revoke()
    if redis_state == "flushed":
        from django_redis import get_redis_connection

        get_redis_connection("default").delete(*revocation.deny_list_keys(row.jti))
    else:
        app.backends.redis = redis_asyncio.Redis.from_url(
            "redis://127.0.0.1:1/0", socket_connect_timeout=0.2
        )

    async def steps(http):
        return await _get(http, token), await _get(http, live)

    refused, served = serve(app, steps)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert served.status_code == 200 and served.json() == {"sub": str(user.uuid)}
    assert django.calls == []


@pytest.mark.postgres
@pytest.mark.redis
def test_userinfo_leaves_what_it_cannot_prove_to_django(router, transactional_db, user, redis_url):
    """A JWT with an altered signature and one that is not ours reach Django untouched."""
    app, django = router
    token, _ = _mint_for(user, "openid", expires_in=600)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    async def steps(http):
        return [await _get(http, candidate) for candidate in (altered, "a.b.c")]

    answers = serve(app, steps)
    assert [answer.status_code for answer in answers] == [299, 299]
    assert len(django.calls) == 2
