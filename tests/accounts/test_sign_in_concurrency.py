"""Sign-ins under load: bounded password hashing, no connection held across it, a clean 503.

accounts/password_work.py bounds Argon2id work per process and returns the
request's database connection to the pool before hashing, so a burst of
sign-ins queues for the cores instead of draining the pool; a sign-in that
finds no slot within the wait gets the 503 page with ``Retry-After`` and
leaves nothing behind (no audit event, no lockout count).
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from django.test import Client

from accounts import password_work
from audit.events import Action
from audit.models import AuditEvent
from tests.support.servers import REPO, Server, base_env, manage

LOGIN = "/accounts/login/"
SERVER_USER = "burst"


def test_a_sign_in_that_finds_no_hash_slot_is_a_503_with_retry_after_and_changes_nothing(
    db, user, password, settings
):
    settings.AUTHSITE_PASSWORD_HASH_CONCURRENCY = 1
    settings.AUTHSITE_PASSWORD_HASH_WAIT_SECONDS = 0.05
    slots = password_work._semaphore()
    assert slots.acquire(timeout=1)  # another sign-in is hashing
    try:
        response = Client(REMOTE_ADDR="192.0.2.20").post(
            LOGIN, {"username": "alice", "password": password}
        )
    finally:
        slots.release()
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "text/html" in response["Content-Type"]
    assert b"Temporarily unavailable" in response.content
    assert b"Traceback" not in response.content
    assert not AuditEvent.objects.filter(
        action__in=[Action.LOGIN_FAILED, Action.LOGIN_SUCCEEDED]
    ).exists()

    # The refused attempt counted nothing: the slot is free again and the sign-in works.
    again = Client(REMOTE_ADDR="192.0.2.20").post(
        LOGIN, {"username": "alice", "password": password}
    )
    assert again.status_code == 302


def test_a_wrong_password_and_an_unknown_account_still_hash_once_inside_the_slot(
    db, user, client, argon2_runs, settings
):
    settings.AUTHSITE_PASSWORD_HASH_CONCURRENCY = 1
    for login in ("alice", "nobody-here"):
        argon2_runs.clear()
        response = client.post(LOGIN, {"username": login, "password": "not the password"})
        assert response.status_code == 200
        assert len(argon2_runs) == 1
    # Both slots' holders gave them back.
    assert password_work._semaphore().acquire(timeout=0)
    password_work._semaphore().release()


def sign_in(base_url: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=60) as browser:
        form = browser.get(LOGIN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        return browser.post(
            LOGIN,
            data={"username": SERVER_USER, "password": password, "csrfmiddlewaretoken": token},
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_sixteen_concurrent_sign_ins_all_succeed_with_a_two_connection_pool(
    tmp_path, postgres_url, redis_url, password
):
    """Against gunicorn + uvicorn: 16 sign-ins at once, a pool of 2 connections with a 1 s
    wait. Holding a connection across Argon2id drained such a pool into 503s."""
    env = base_env(
        tmp_path,
        DATABASE_URL=postgres_url["url"],
        REDIS_URL=redis_url,
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE="2",
        DATABASE_POOL_TIMEOUT="1",
        AUTHSITE_PASSWORD_HASH_WAIT_SECONDS="60",
    )
    assert manage(env, "migrate", "--noinput").returncode == 0
    created = subprocess.run(
        [sys.executable, "manage.py", "createuser", SERVER_USER]
        + ["--email", f"{SERVER_USER}@example.com", "--password-stdin"],
        cwd=REPO,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    with Server(env) as server:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: sign_in(server.url, password), range(16)))
        statuses = [answer.status_code for answer in answers]
        assert statuses == [302] * 16, server.output()[-2000:]
