"""``manage.py changepassword``: at a terminal, from a pipe, and with no terminal at all."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from django.core.management import call_command
from django.core.management.base import CommandError

from audit.events import Action
from audit.models import AuditEvent
from tests.support.servers import REPO, base_env, manage

NEW = "a fresh long passphrase 2026"


@pytest.mark.django_db
@pytest.mark.parametrize("login", ["alice", "alice@example.com"])
def test_password_stdin_sets_the_password_and_ends_sessions(user, login, client):
    """The user is found by username or e-mail; the change is audited and the user's
    sessions end (ASVS 7.4.3)."""
    client.force_login(user)
    assert client.get("/accounts/account/").status_code == 200
    out = io.StringIO()
    call_command(
        "changepassword", login, "--password-stdin", stdin=io.StringIO(NEW + "\n"), stdout=out
    )
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert "Password changed for" in out.getvalue()
    event = AuditEvent.objects.filter(action=Action.PASSWORD_CHANGED).get()
    assert event.details["source"] == "manage.py changepassword"
    assert client.get("/accounts/account/").status_code == 302  # signed out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed, message",
    [
        ("", "No password on standard input"),
        ("short", "too weak"),
        ("x" * 5000, "longer than 4096"),
    ],
)
def test_password_stdin_refuses_a_missing_weak_or_overlong_password(user, typed, message):
    with pytest.raises(CommandError, match=message):
        call_command("changepassword", "alice", "--password-stdin", stdin=io.StringIO(typed))
    user.refresh_from_db()
    assert user.check_password("correct horse battery staple 42")


@pytest.mark.django_db
def test_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match="No user with username or e-mail 'nobody'"):
        call_command("changepassword", "nobody", "--password-stdin", stdin=io.StringIO(NEW))


@pytest.mark.slow
def test_without_a_terminal_it_says_how_instead_of_crashing(tmp_path):
    """No EOFError traceback: a one-line error naming --password-stdin, exit status 1."""
    env = base_env(tmp_path)
    assert manage(env, "migrate", "--noinput").returncode == 0
    created = manage(env, "createuser", "bob", "--email", "bob@example.com")
    assert created.returncode == 0, created.stderr
    result = subprocess.run(
        [sys.executable, "manage.py", "changepassword", "bob"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "EOFError" not in result.stderr
    assert "--password-stdin" in result.stderr
    piped = subprocess.run(
        [sys.executable, "manage.py", "changepassword", "bob", "--password-stdin"],
        cwd=REPO,
        env=env,
        input=NEW + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert "Password changed for" in piped.stdout
