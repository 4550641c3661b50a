"""The embedded default runs its periodic jobs: with no broker, the server itself seals the
audit trail, rotates signing keys that are due, clears expired tokens, rebuilds a lost deny
list and applies retention (authsite/scheduler.py), one scheduler per server however many
workers it has."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time

import pytest

from tests.support.servers import Server, base_env, manage

pytestmark = pytest.mark.slow

JOBS = {
    "clear-expired-tokens",
    "seal-audit-events",
    "prune-audit-events",
    "prune-sign-in-records",
    "rotate-signing-keys",
    "restore-deny-list",
}


def seals_checked(env) -> int:
    result = manage(env, "audit", "verify")
    assert result.returncode == 0, result.stderr
    return int(re.search(r"(\d+) seals checked", result.stdout).group(1))


def key_state(db, kid: str) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT state FROM oauth_signingkey WHERE kid = ?", (kid,)).fetchone()[
            0
        ]


def test_without_a_broker_the_server_seals_the_audit_trail_and_rotates_due_keys(tmp_path):
    """Seals appear and an overdue active key is rotated while `make run`'s server serves,
    with no worker or beat process; two workers still make one scheduler, and when its
    worker dies another takes over."""
    env = base_env(tmp_path, DJANGO_SETTINGS_MODULE="tests.support.fast_schedule_settings")
    assert manage(env, "migrate", "--noinput").returncode == 0
    bootstrap = manage(env, "bootstrap", "--json")
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert seals_checked(env) == 0  # what a fresh `make run` reported before

    db = tmp_path / "authsite.sqlite3"
    with sqlite3.connect(db) as conn:  # the active RS256 key is past its rotation period
        (overdue,) = conn.execute(
            "SELECT kid FROM oauth_signingkey WHERE state = 'active' AND algorithm = 'RS256'"
        ).fetchone()
        conn.execute(
            "UPDATE oauth_signingkey SET activated = '2020-01-01 00:00:00' WHERE kid = ?",
            (overdue,),
        )

    with Server(env, workers=2) as server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if key_state(db, overdue) != "active" and seals_checked(env) >= 1:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # a few more ticks: a second scheduler would show by now
        log = server.output()

        # The worker running the scheduler dies: another one takes the lock over.
        leader = int(re.search(r"embedded scheduler running in process (\d+)", log).group(1))
        os.kill(leader, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            leaders = re.findall(r"embedded scheduler running in process (\d+)", server.output())
            if len(leaders) == 2:
                break
            time.sleep(0.5)
        assert len(leaders) == 2 and int(leaders[1]) != leader, server.output()

    assert seals_checked(env) >= 1, log
    assert key_state(db, overdue) == "previous", log
    assert log.count("embedded scheduler running") == 1, log
    for job in JOBS:
        assert f"scheduled job {job} done" in log, log
    assert "Traceback" not in log
    state = json.loads((tmp_path / "scheduler-state.json").read_text())
    assert set(state) == JOBS


@pytest.mark.broker
def test_with_a_broker_the_server_leaves_the_schedule_to_beat(tmp_path, broker_url):
    """With CELERY_BROKER_URL set, beat sends the jobs; the web server runs none itself."""
    env = base_env(tmp_path, CELERY_BROKER_URL=broker_url)
    assert manage(env, "migrate", "--noinput").returncode == 0
    with Server(env) as server:
        time.sleep(1)
        log = server.output()
    assert "embedded scheduler" not in log
    assert not (tmp_path / "scheduler-state.json").exists()
