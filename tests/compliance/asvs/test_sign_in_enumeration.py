"""A failed sign-in never tells whether the account exists (ASVS 6.3.8, OWASP ASVS 2.2 / 6.3).

Wrong password, unknown account, inactive account, account without a usable
password, by username or e-mail: the hosted page and the admin login answer
with the same status, the same body (once the CSRF token and the typed name are
taken out), the same cookies, and after the same work (one Argon2id run, the
same database queries), so neither the page nor its timing tells them apart.
"""

from __future__ import annotations

import re
import statistics
import time
from http import HTTPStatus

import pytest

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.events import Action
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGES = ["/accounts/login/", "/admin/login/"]
WRONG = "not the password at all 77"
UNKNOWN = {"username": "nobody-here", "email": "nobody-here@example.com"}


@pytest.fixture(autouse=True)
def _generous_lockout(settings):
    """Repeated attempts here measure sign-in, not the lockout (tested in
    tests/accounts/test_lockout.py)."""
    settings.AUTHSITE_LOGIN_FAILURES_PER_ACCOUNT = 1000
    settings.AUTHSITE_LOGIN_FAILURES_PER_IP = 1000


def make_account(kind: str, password: str) -> None:
    user = User.objects.create_user(
        email="alice@example.com", username="alice", password=password, email_verified=True
    )
    if kind == "inactive":
        user.is_active = False
    elif kind == "no_password":
        user.set_unusable_password()
    user.save()


def attempt(path: str, login: str, password: str = WRONG):
    """One sign-in as a fresh browser would: load the page, then post the form."""
    client = Client()
    client.get(path)
    response = client.post(path, {"username": login, "password": password})
    return response


def normalised(response, login: str) -> str:
    body = response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', body)
    return body.replace(login, "<typed name>")


def cookie_shapes(response) -> dict:
    """Cookie names and attributes; values and the expiry second naturally differ."""
    return {
        name: {k: v for k, v in morsel.items() if k != "expires"}
        for name, morsel in response.cookies.items()
    }


CASES = [
    # (account state, what is typed): every one must look like the unknown account.
    ("active", "username"),
    ("active", "email"),
    ("inactive", "username"),
    ("no_password", "username"),
    ("no_password", "email"),
]


@pytest.mark.spec("ASVS 5.0", "6.3.8")
@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("kind, typed", CASES)
def test_failed_sign_in_answers_the_same_whether_or_not_the_account_exists(
    path, kind, typed, argon2_runs
):
    """ASVS 5.0 §6.3.8: status, body (name and CSRF token aside), cookies and the work done
    (one Argon2id run, the same queries) match between a known and an unknown account."""
    make_account(kind, "the real password of alice 1")
    known_login = "alice" if typed == "username" else "alice@example.com"
    unknown_login = UNKNOWN[typed]

    answers = {}
    for label, login in (("known", known_login), ("unknown", unknown_login)):
        argon2_runs.clear()
        with CaptureQueriesContext(connection) as queries:
            response = attempt(path, login)
        answers[label] = (response, len(queries), list(argon2_runs))

    known, unknown = answers["known"][0], answers["unknown"][0]
    assert known.status_code == unknown.status_code == HTTPStatus.OK
    assert normalised(known, known_login) == normalised(unknown, unknown_login)
    assert cookie_shapes(known) == cookie_shapes(unknown)
    assert "sessionid" not in known.cookies
    assert answers["known"][1] == answers["unknown"][1], "a different number of queries"
    assert len(answers["known"][2]) == len(answers["unknown"][2]) == 1, answers


@pytest.mark.spec("ASVS 5.0", "6.3.8")
@pytest.mark.parametrize("path", PAGES)
def test_a_correct_password_of_an_inactive_account_answers_like_an_unknown_account(path):
    """ASVS 5.0 §6.3.8: the right password does not reveal that a disabled account exists."""
    make_account("inactive", "the real password of alice 1")
    known = attempt(path, "alice", "the real password of alice 1")
    unknown = attempt(path, UNKNOWN["username"], "the real password of alice 1")
    assert known.status_code == unknown.status_code == HTTPStatus.OK
    assert normalised(known, "alice") == normalised(unknown, UNKNOWN["username"])


@pytest.mark.spec("ASVS 5.0", "6.3.8")
@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("kind", ["active", "no_password"])
def test_wrong_password_and_unknown_account_take_the_same_time(path, kind):
    """ASVS 5.0 §6.3.8: the unknown-account path runs the same Argon2id work as a wrong
    password; 10 attempts each, medians printed, ratio asserted loosely (0.5x-2x)."""
    make_account(kind, "the real password of alice 1")
    attempt(path, "warm-up")  # first-request costs (templates, imports) out of the way
    timings = {"known": [], "unknown": []}
    for _ in range(10):
        for label, login in (("known", "alice"), ("unknown", UNKNOWN["username"])):
            client = Client()
            client.get(path)
            started = time.perf_counter()
            client.post(path, {"username": login, "password": WRONG})
            timings[label].append(time.perf_counter() - started)
    known, unknown = (statistics.median(timings[k]) for k in ("known", "unknown"))
    print(
        f"\n{path} [{kind} account]: median of 10 wrong-password sign-ins "
        f"{known * 1000:.1f} ms, unknown account {unknown * 1000:.1f} ms, "
        f"ratio {known / unknown:.2f}"
    )
    assert 0.5 < known / unknown < 2


@pytest.mark.spec("ASVS 5.0", "6.3.1")
@pytest.mark.parametrize("path", PAGES)
def test_failed_sign_ins_are_still_counted_for_the_lockout(path, settings):
    """ASVS 5.0 §6.3.1: equal answers do not weaken the lockout; the known and the unknown
    account are both locked after the configured number of failures."""
    settings.AUTHSITE_LOGIN_FAILURES_PER_ACCOUNT = 2
    make_account("no_password", "x")
    for login in ("alice", UNKNOWN["username"]):
        for _ in range(2):
            attempt(path, login)
    locked = AuditEvent.objects.filter(action=Action.LOGIN_LOCKED)
    assert locked.count() == 2
