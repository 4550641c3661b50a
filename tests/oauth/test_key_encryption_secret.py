"""Instances with different AUTHSITE_KEY_ENCRYPTION_SECRET values never replace each other's keys.

Before, an instance whose secret could not decrypt the stored keys replaced them
with fresh keys encrypted under its own secret, which every other instance then
could not read: two instances with different secrets took turns breaking each
other. Now such an instance signs nothing (503 ``temporarily_unavailable`` at the
token endpoint), reports not ready, logs one ERROR naming the setting, and leaves
the keys alone; only ``rotatekeys --discard-unreadable`` replaces them.
"""

from __future__ import annotations

import io
import json
import logging
import re

import httpx
import psycopg
import pytest

from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from common.logging import reset_dependency_failures
from oauth import keys
from oauth.models import AccessToken, SigningKey
from tests.support.oauth import make_client
from tests.support.servers import Server, base_env, manage

SECRET_A = "encryption secret of instance A"
SECRET_B = "a different secret on instance B"


@pytest.fixture
def keys_under_a(db, settings):
    """Keys created by an instance with SECRET_A; then this process becomes instance B."""
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = SECRET_A
    SigningKey.objects.all().delete()
    _fresh_process()
    keys.ensure_signing_keys()
    stored = _stored_keys()
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = SECRET_B
    _fresh_process()
    yield stored
    _fresh_process()


def _fresh_process() -> None:
    keys._memo.clear()
    keys._memo_version.update(version=None, checked=float("-inf"))
    cache.delete(keys.JWKS_CACHE_KEY)
    reset_dependency_failures()


def _stored_keys() -> list[tuple]:
    return list(
        SigningKey.objects.order_by("kid").values_list(
            "kid", "algorithm", "state", "private_key_encrypted"
        )
    )


def _errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "oauth.keys"]


@pytest.mark.django_db
def test_an_instance_with_another_secret_signs_nothing_and_replaces_nothing(keys_under_a, caplog):
    with caplog.at_level(logging.WARNING, logger="oauth.keys"):
        for algorithm in keys.SUPPORTED_ALGORITHMS * 3:
            with pytest.raises(keys.SigningKeyUnavailableError):
                keys.get_signing_key(algorithm)
        with pytest.raises(keys.SigningKeyUnavailableError):
            keys.ensure_signing_keys()
        with pytest.raises(keys.SigningKeyUnavailableError):
            keys.rotate_signing_keys(force=True)
        with pytest.raises(keys.SigningKeyUnavailableError):
            keys.check_signing_keys()

    assert _stored_keys() == keys_under_a
    [error] = _errors(caplog)
    assert "AUTHSITE_KEY_ENCRYPTION_SECRET" in error.getMessage()
    assert "rotatekeys --discard-unreadable" in error.getMessage()


@pytest.mark.django_db
def test_the_instance_with_the_right_secret_keeps_signing_with_the_same_keys(
    keys_under_a, settings
):
    with pytest.raises(keys.SigningKeyUnavailableError):
        keys.get_signing_key()

    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = SECRET_A
    _fresh_process()

    active = next(
        kid for kid, alg, state, _ in keys_under_a if alg == "RS256" and state == "active"
    )
    assert keys.get_signing_key().kid == active
    keys.check_signing_keys()


@pytest.mark.django_db
def test_the_token_endpoint_answers_503_temporarily_unavailable_and_issues_nothing(keys_under_a):
    """RFC 6749 §5.2 errors are JSON; a server that cannot sign says so and mints nothing."""
    app, secret = make_client(name="Service", grant_types=["client_credentials"], redirect_uris=[])

    response = Client().post(
        "/oauth/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=httpx.BasicAuth(app.client_id, secret)._auth_header,
    )

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"]
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    assert not AccessToken.objects.filter(application=app).exists()
    assert _stored_keys() == keys_under_a


@pytest.mark.django_db
def test_rotatekeys_refuses_with_the_wrong_secret(keys_under_a):
    with pytest.raises(CommandError, match="AUTHSITE_KEY_ENCRYPTION_SECRET"):
        call_command("rotatekeys", "--force", stdout=io.StringIO())

    assert _stored_keys() == keys_under_a


@pytest.mark.django_db
def test_discard_unreadable_replaces_the_keys_and_keeps_old_tokens_verifiable(
    keys_under_a, settings
):
    """For an operator who lost the secret: old public keys stay published until expiry."""
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = SECRET_A
    _fresh_process()
    old_token = _sign()
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = SECRET_B
    _fresh_process()
    out = io.StringIO()

    call_command("rotatekeys", "--discard-unreadable", stdout=out)

    old_active = {kid for kid, _, state, _ in keys_under_a if state == "active"}
    states = dict(SigningKey.objects.values_list("kid", "state"))
    assert {states[kid] for kid in old_active} == {"previous"}
    assert not SigningKey.objects.filter(kid__in=old_active).exclude(private_key_encrypted="")
    keys.check_signing_keys()
    assert keys.get_signing_key().kid not in old_active
    assert keys.verify_jwt(old_token)["sub"] == "alice"
    assert out.getvalue().count("discarded unreadable key") == 4
    assert "new active key" in out.getvalue()


def _sign() -> str:
    from oauth.tokens import sign

    return sign({"sub": "alice", "exp": 4102444800}, typ="at+jwt")


# --- Two real servers, one database -------------------------------------------------------


def _token(server: Server, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def _kid(token: str) -> str:
    import base64

    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _db_keys(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT kid, state, private_key_encrypted FROM oauth_signingkey ORDER BY kid"
        ).fetchall()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_servers_with_different_secrets_against_one_database(tmp_path, postgres_url):
    # A has the suite's secret (the shared test database may hold its keys already).
    env_a = base_env(
        tmp_path, DATABASE_URL=postgres_url["url"], AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS="5"
    )
    env_b = {**env_a, "AUTHSITE_KEY_ENCRYPTION_SECRET": SECRET_B}
    assert manage(env_a, "migrate", "--noinput").returncode == 0  # keys exist under A's secret
    created = manage(
        env_a,
        "createclient",
        "--name",
        "Service",
        "--confidential",
        "--grant",
        "client_credentials",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    client_id, secret = client["client_id"], client["client_secret"]
    before = _db_keys(postgres_url["url"])

    with Server(env_a) as a, Server(env_b) as b:
        assert httpx.get(f"{a.url}/health/ready", timeout=10).status_code == 200
        ready_b = httpx.get(f"{b.url}/health/ready", timeout=10)
        assert ready_b.status_code == 503
        assert ready_b.json()["failed"] == ["signing_keys"]
        assert ready_b.json()["checks"]["signing_keys"]["error"] == "signing_key_unavailable"

        for _ in range(5):
            refused = _token(b, client_id, secret)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/json"
            assert refused.json()["error"] == "temporarily_unavailable"
            issued = _token(a, client_id, secret)
            assert issued.status_code == 200, issued.text
            httpx.get(f"{b.url}/health/ready", timeout=10)
        kid = _kid(issued.json()["access_token"])

        # B still publishes the keys it cannot use: A's tokens verify against either JWKS.
        published_b = {
            k["kid"] for k in httpx.get(f"{b.url}/.well-known/jwks.json", timeout=10).json()["keys"]
        }
        assert kid in published_b

        rotated = manage(env_b, "rotatekeys", "--force")
        assert rotated.returncode != 0
        assert "AUTHSITE_KEY_ENCRYPTION_SECRET" in rotated.stderr
        assert _db_keys(postgres_url["url"]) == before
        assert _kid(_token(a, client_id, secret).json()["access_token"]) == kid

        log_b = b.output()
    errors = [
        line
        for line in log_b.splitlines()
        if re.search(r"\bERROR\b", line) and "AUTHSITE_KEY_ENCRYPTION_SECRET" in line
    ]
    print(f"instance B logged {len(errors)} error line(s) naming the setting")
    assert len(errors) == 1, log_b
    assert "Traceback" not in log_b
