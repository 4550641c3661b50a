"""Operator commands: createuser, unlock, disableuser (each audited, each with clear errors)."""

from __future__ import annotations

import io
import re

import pytest

from django.contrib.auth import authenticate
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import Client

from accounts import lockout
from accounts.models import SignInLock, User, UserSession
from audit.events import Action
from audit.models import AuditEvent
from tests.support.oauth import refresh, tokens_for

pytestmark = pytest.mark.django_db

STRONG = "a long and unusual passphrase 9"


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command(*args, stdout=out, stderr=io.StringIO(), **extra)
    return out.getvalue()


def can_sign_in(login: str, password: str) -> bool:
    return authenticate(None, username=login, password=password) is not None


# --- createuser --------------------------------------------------------------------------


def test_createuser_generates_a_password_prints_it_once_and_audits(db):
    output = run("createuser", "bob", "--email", "Bob@Example.COM")

    password = re.search(r"Password \(shown only now\): (\S+)", output).group(1)
    user = User.objects.get(username="bob")
    assert user.email == "Bob@example.com" and not user.is_staff and not user.email_verified
    assert can_sign_in("bob", password)
    event = AuditEvent.objects.get(action=Action.USER_CREATED)
    assert event.target_id == str(user.uuid) and event.actor_type == "system"
    assert event.details["source"] == "manage.py createuser"
    assert password not in str(event.details)


def test_createuser_reads_the_password_from_stdin_and_sets_the_flags(db):
    output = run(
        "createuser",
        "carol",
        "--email",
        "carol@example.com",
        "--password-stdin",
        "--verified",
        "--staff",
        stdin=STRONG + "\n",
    )

    user = User.objects.get(username="carol")
    assert user.is_staff and user.email_verified and not user.is_superuser
    assert can_sign_in("carol@example.com", STRONG)
    assert STRONG not in output and "Password" not in output


@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("ALICE", "new@example.com", "A user with the username 'ALICE' already exists."),
        ("newbie", "ALICE@example.com", "already exists"),
        ("newbie", "not-an-address", "'not-an-address' is not a valid e-mail address."),
        ("has space", "new@example.com", "is not a valid username"),
        ("at@sign", "new@example.com", "is not a valid username"),
        ("nul\x00byte", "new@example.com", "is not a valid username"),
    ],
)
def test_createuser_refuses_duplicates_and_bad_input_clearly(user, username, email, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("createuser", username, "--email", email)

    assert User.objects.count() == 1
    assert not AuditEvent.objects.filter(action=Action.USER_CREATED).exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password", "too weak"),
        ("short1", "too short"),
        ("", "No password on standard input"),
        ("x" * 5000, "longer than 4096"),
    ],
)
def test_createuser_runs_the_password_validators(db, password, message):
    with pytest.raises(CommandError, match=message):
        run("createuser", "dave", "--email", "dave@example.com", "--password-stdin", stdin=password)

    assert not User.objects.exists()


# --- unlock ----------------------------------------------------------------------------


def lock_alice(user, ip):
    for _ in range(5):
        lockout.record_failure(lockout.start_attempt("alice", user, ip))
    assert lockout.start_attempt("alice", user, ip).locked


def test_unlock_ends_every_lock_of_the_user_and_is_audited(user, password):
    lock_alice(user, "192.0.2.1")
    lock_alice(user, "192.0.2.2")

    output = run("unlock", "ALICE@example.com")

    assert output.strip() == "Cleared 2 sign-in locks of alice."
    assert not SignInLock.objects.exists()
    attempt = lockout.start_attempt("alice", user, "192.0.2.1")
    assert not attempt.locked
    # The counters restarted too: one more failure does not lock again.
    assert lockout.record_failure(attempt) is None
    assert not lockout.start_attempt("alice", user, "192.0.2.1").locked
    event = AuditEvent.objects.get(action=Action.USER_UNLOCKED)
    assert event.target_id == str(user.uuid) and event.details["locks"] == 2


def test_unlock_lets_the_user_sign_in_on_the_page_again(client, user, password):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong wrong wrong"})
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": password}).status_code
        == 200
    )

    run("unlock", "alice")

    assert (
        client.post("/accounts/login/", {"username": "alice", "password": password}).status_code
        == 302
    )


def test_unlock_names_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user with username or e-mail 'nobody'"):
        run("unlock", "nobody")


# --- disableuser -------------------------------------------------------------------------


def test_disableuser_ends_sessions_revokes_tokens_and_is_audited(
    signed_in, user, password, confidential
):
    app, secret = confidential
    User.objects.filter(pk=user.pk).update(email_verified=True)  # authorize asks for it
    tokens = tokens_for(signed_in, app, secret)
    other_browser = Client()
    other_browser.force_login(user)  # a session the account page does not list
    assert Session.objects.count() == 2

    output = run("disableuser", "alice")

    assert "Disabled alice; ended 2 sessions" in output
    user.refresh_from_db()
    assert not user.is_active
    assert not Session.objects.exists() and not UserSession.objects.exists()
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == 400
    assert not can_sign_in("alice", password)
    event = AuditEvent.objects.get(action=Action.USER_DISABLED)
    assert event.target_id == str(user.uuid) and event.details["devices_signed_out"] == 2


def test_disableuser_names_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user with username or e-mail 'ghost@example.com'"):
        run("disableuser", "ghost@example.com")
    assert not AuditEvent.objects.filter(action=Action.USER_DISABLED).exists()
