"""Smoke test of the benchmark peers (make bench-peers): each starts, seeds, and answers.

Tiny counts, one request per scenario, so the peers cannot rot between benchmark runs. The
plain django-oauth-toolkit peer runs from the project's virtualenv and always runs here. The
node-oidc-provider peer needs Node.js and npm, which a fresh CI machine need not have: its
test is skipped, with the reason, when ``node`` or ``npm`` is missing (everywhere, CI too).
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from django.conf import settings

from bench.peers import install
from bench.targets.dot_plain import DotPlainTarget
from bench.targets.node_oidc import NodeOidcTarget

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def peer_database():
    """A fresh database on the configured PostgreSQL server, dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER")
    password = db.get("PASSWORD") or ""
    name = f"bench_peer_it_{uuid.uuid4().hex[:10]}"
    auth = f"{user}:{password}@" if password else f"{user}@"
    admin = psycopg.connect(
        host=host, port=port, user=user, password=password, dbname="postgres", autocommit=True
    )
    try:
        yield f"postgres://{auth}{host}:{port}/{name}"  # the target creates it
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def send(client: httpx.Client, scenario, body: str | None = None) -> httpx.Response:
    if body is None:
        body = scenario.body if scenario.bodies is None else scenario.bodies[0]
    return client.request(scenario.method, scenario.path, headers=scenario.headers, content=body)


def assert_drivable(scenarios) -> None:
    """What wrk needs: plain strings, and a form Content-Type wherever there is a body."""
    for scenario in scenarios.values():
        assert all(isinstance(v, str) for v in scenario.headers.values()), scenario.name
        bodies = scenario.bodies if scenario.bodies is not None else [scenario.body]
        if any(body is not None for body in bodies):
            assert scenario.headers["Content-Type"] == FORM, scenario.name
            assert all(isinstance(body, str) for body in bodies), scenario.name


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # A zombie is gone for the benchmark (it uses no CPU), a live process is not.
        with open(f"/proc/{pid}/stat") as stat:
            assert stat.read().split(")")[-1].split()[0] == "Z", f"process {pid} still runs"


@pytest.mark.parametrize("plain_secrets", [False, True], ids=["pbkdf2-secrets", "plain-secrets"])
def test_plain_dot_peer_serves_the_scenarios(peer_database, plain_secrets):
    target = DotPlainTarget(database_url=peer_database, workers=1, plain_secrets=plain_secrets)
    assert target.name == ("dot_plain_secret" if plain_secrets else "dot_plain")
    target.start()
    pids = target.server_pids()
    try:
        assert target.base_url.startswith("http://127.0.0.1:")
        assert len(pids) == 2 and target.worker_pids() == pids[1:]  # master + one worker
        scenarios = target.prepare(
            [
                "discovery",
                "client_credentials",
                "code_exchange",
                "introspect_active",
                "introspect_revoked",
                "authorize",
                "health_ready",
                "floor_django",
            ],
            2,
        )
        # No health endpoint and no floors in a plain DOT project: skipped, not faked.
        assert set(scenarios) == {
            "discovery",
            "client_credentials",
            "code_exchange",
            "introspect_active",
            "introspect_revoked",
            "authorize",
        }
        assert_drivable(scenarios)
        assert len(scenarios["code_exchange"].bodies) == 2
        with httpx.Client(base_url=target.base_url, timeout=30) as client:
            assert send(client, scenarios["discovery"]).json()["jwks_uri"].endswith("jwks.json")

            token = send(client, scenarios["client_credentials"])
            assert token.status_code == 200
            assert token.json()["access_token"]

            exchanged = send(client, scenarios["code_exchange"])
            assert exchanged.status_code == 200
            assert {"access_token", "refresh_token", "id_token"} <= exchanged.json().keys()
            # The code was single-use: the benchmark must never send a body twice.
            replay = send(client, scenarios["code_exchange"])
            assert replay.status_code == 400
            assert replay.json()["error"] == "invalid_grant"

            assert send(client, scenarios["introspect_active"]).json()["active"] is True
            assert send(client, scenarios["introspect_revoked"]).json() == {"active": False}

            authorized = send(client, scenarios["authorize"])
            assert authorized.status_code in scenarios["authorize"].expect
            assert "code" in parse_qs(urlsplit(authorized.headers["location"]).query)
    finally:
        target.stop()
    assert_gone(pids)


@pytest.mark.skipif(
    install.node_available() is not None,
    reason=f"node-oidc-provider peer: {install.node_available()}",
)
def test_node_oidc_provider_peer_serves_the_scenarios(peer_database):
    target = NodeOidcTarget(database_url=peer_database)
    target.start()
    pids = target.server_pids()
    try:
        assert pids == target.worker_pids() and len(pids) == 1  # one Node process
        scenarios = target.prepare(
            [
                "jwks",
                "client_credentials",
                "refresh",
                "introspect_active",
                "revoke",
                "userinfo",
                "authorize",
                "signin",
            ],
            2,
        )
        # node-oidc-provider's sign-in and consent are the application's interaction code.
        assert "authorize" not in scenarios and "signin" not in scenarios
        assert_drivable(scenarios)
        with httpx.Client(base_url=target.base_url, timeout=30) as client:
            assert send(client, scenarios["jwks"]).json()["keys"][0]["kty"] == "RSA"

            token = send(client, scenarios["client_credentials"])
            assert token.status_code == 200
            assert token.json()["access_token"].count(".") == 0  # opaque, as the issue asks

            first = scenarios["refresh"].bodies[0]
            refreshed = send(client, scenarios["refresh"], first)
            assert refreshed.status_code == 200
            rotated = refreshed.json()["refresh_token"]
            assert rotated and rotated not in first
            assert send(client, scenarios["refresh"], first).json()["error"] == "invalid_grant"

            assert send(client, scenarios["introspect_active"]).json()["active"] is True

            revoked = scenarios["revoke"].bodies[0]
            assert send(client, scenarios["revoke"], revoked).status_code == 200
            introspect = scenarios["introspect_active"]
            again = client.post(introspect.path, headers=introspect.headers, content=revoked)
            assert again.json() == {"active": False}

            claims = send(client, scenarios["userinfo"]).json()
            assert claims["sub"] == "bench-user-1"
    finally:
        target.stop()
    assert_gone(pids)
