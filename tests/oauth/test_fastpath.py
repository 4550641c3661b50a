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

import httpx
import pytest
import redis.asyncio as redis_asyncio

from django.test import Client

from common.conf import authsite_settings
from common.logging import RequestContextFilter
from oauth.exceptions import TokenNotStoredError
from oauth.fastpath import app as fastpath
from oauth.fastpath.backends import Backends, Statement
from oauth.fastpath.clients import Clients
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
