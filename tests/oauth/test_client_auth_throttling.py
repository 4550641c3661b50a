"""Failed client authentication is throttled per (client, address) and per address
(OAuth 2.1 §2.4.1, RFC 9700 §2.5), at the token, introspection and revocation endpoints."""

from __future__ import annotations

import secrets
import time
from http import HTTPStatus

import httpx
import pytest

from tests.support.oauth import make_client
from tests.support.own_redis import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db

THROTTLED_BODY = {
    "error": "invalid_client",
    "error_description": "Too many failed client authentications; retry later.",
}


def fresh_address() -> str:
    """A new documentation address: throttle counters live in the cache, which is shared
    between tests and outlives the test database."""
    return f"2001:db8:{secrets.randbelow(65536):x}::{secrets.randbelow(65536):x}"


@pytest.fixture
def client_at(http):
    """HTTP clients on the real app whose requests come from a given peer address."""
    from django.core.wsgi import get_wsgi_application

    opened = []

    def make(address: str | None = None) -> httpx.Client:
        transport = httpx.WSGITransport(
            app=get_wsgi_application(), remote_addr=address or fresh_address()
        )
        opened.append(httpx.Client(transport=transport, base_url=http.base_url))
        return opened[-1]

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def service(db):
    return make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])


def call(client, endpoint: str, client_id: str, secret: str):
    data = {"grant_type": "client_credentials"} if endpoint == "token" else {"token": "unknown"}
    return client.post(f"/oauth/{endpoint}", data=data, auth=(client_id, secret))


def assert_throttled(response) -> None:
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == THROTTLED_BODY
    assert 0 < int(response.headers["retry-after"]) <= 300
    assert "no-store" in response.headers["cache-control"]
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
def test_ten_wrong_secrets_lock_that_client_at_that_address(client_at, service, endpoint):
    """After 10 failures the 11th attempt is 429 before the secret is checked, so even the
    right secret from that address is refused; from another address the client still works."""
    app, secret = service
    attacker = client_at()
    for _ in range(10):
        response = call(attacker, endpoint, app.client_id, "wrong")
        assert response.status_code == HTTPStatus.UNAUTHORIZED, response.text
        assert response.json()["error"] == "invalid_client"
    assert_throttled(call(attacker, endpoint, app.client_id, "wrong"))
    assert_throttled(call(attacker, endpoint, app.client_id, secret))

    response = call(client_at(), endpoint, app.client_id, secret)
    assert response.status_code == HTTPStatus.OK, response.text


def test_the_lockout_ends_with_the_window(client_at, service, settings):
    settings.AUTHSITE_CLIENT_AUTH_FAILURES_PER_CLIENT = 2
    settings.AUTHSITE_CLIENT_AUTH_FAILURE_WINDOW_SECONDS = 1
    app, secret = service
    caller = client_at()
    call(caller, "token", app.client_id, "wrong")
    call(caller, "token", app.client_id, "wrong")
    throttled = call(caller, "token", app.client_id, secret)
    assert_throttled(throttled)
    assert throttled.headers["retry-after"] == "1"
    time.sleep(1.1)
    assert call(caller, "token", app.client_id, secret).status_code == HTTPStatus.OK


def test_an_operator_can_unblock_a_source(client_at, service):
    """From a shell: ``ratelimit.reset`` on the pair's and the address's keys."""
    from common import ratelimit

    app, secret = service
    address = fresh_address()
    caller = client_at(address)
    for _ in range(10):
        call(caller, "token", app.client_id, "wrong")
    assert_throttled(call(caller, "token", app.client_id, secret))
    ratelimit.reset(f"client-auth:{app.client_id}|{address}")
    ratelimit.reset(f"client-auth-ip:{address}")
    assert call(caller, "token", app.client_id, secret).status_code == HTTPStatus.OK


def test_a_success_elsewhere_does_not_unlock_the_attacker(client_at, service):
    app, secret = service
    attacker, legitimate = client_at(), client_at()
    for _ in range(10):
        call(attacker, "token", app.client_id, "wrong")
    assert call(legitimate, "token", app.client_id, secret).status_code == HTTPStatus.OK
    assert_throttled(call(attacker, "token", app.client_id, "wrong"))
    assert_throttled(call(attacker, "introspect", app.client_id, secret))


def test_one_address_failing_across_many_clients_is_locked_for_all(client_at, service, settings):
    """The per-address counter spans client ids, so spraying guesses over clients stops too."""
    settings.AUTHSITE_CLIENT_AUTH_FAILURES_PER_IP = 5
    app, secret = service
    sprayer = client_at()
    for _ in range(5):
        response = call(sprayer, "token", f"guess-{secrets.token_hex(8)}", "wrong")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert_throttled(call(sprayer, "token", app.client_id, secret))
    assert_throttled(call(sprayer, "revoke", f"guess-{secrets.token_hex(8)}", "wrong"))
    assert call(client_at(), "token", app.client_id, secret).status_code == HTTPStatus.OK


def test_forged_forwarded_for_does_not_escape_the_lockout(client_at, service):
    """From a peer that is not a trusted proxy, X-Forwarded-For is ignored: rotating it
    does not give an attacker fresh counters (common/net.py)."""
    app, _ = service
    attacker = client_at()
    for n in range(11):
        response = attacker.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(app.client_id, "wrong"),
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
    assert_throttled(response)


def test_clients_behind_a_trusted_proxy_are_counted_by_their_own_address(
    client_at, service, settings
):
    proxy = fresh_address()
    settings.AUTHSITE_TRUSTED_PROXIES = [f"{proxy}/128"]
    app, secret = service
    through_proxy = client_at(proxy)
    attacker = {"X-Forwarded-For": fresh_address()}
    legitimate = {"X-Forwarded-For": fresh_address()}
    data = {"grant_type": "client_credentials"}
    for _ in range(10):
        through_proxy.post("/oauth/token", data=data, auth=(app.client_id, "x"), headers=attacker)
    assert_throttled(
        through_proxy.post("/oauth/token", data=data, auth=(app.client_id, "x"), headers=attacker)
    )
    response = through_proxy.post(
        "/oauth/token", data=data, auth=(app.client_id, secret), headers=legitimate
    )
    assert response.status_code == HTTPStatus.OK, response.text


def test_throttling_fails_open_when_the_cache_is_down(client_at, service, settings):
    """Redis down: failures are not counted, nothing is refused, the right secret works."""
    settings.CACHES = UNREACHABLE_REDIS
    app, secret = service
    caller = client_at()
    statuses = {call(caller, "token", app.client_id, "wrong").status_code for _ in range(12)}
    assert statuses == {HTTPStatus.UNAUTHORIZED}
    assert call(caller, "token", app.client_id, secret).status_code == HTTPStatus.OK
