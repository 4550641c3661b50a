"""Every password hash a page can cause waits for the same bounded slots as sign-in.

accounts/password_work.py bounds Argon2id work per process. Sign-in used it
from the start; these tests hold the pages that re-enter or set a password to
the same rule: with every slot taken the page answers the branded 503 with
``Retry-After`` and nothing is changed, counted or audited, and a new password
is hashed before its transaction opens (a transaction would keep its pooled
connection for the whole hash).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.cache import cache
from django.db import connection
from django.test import Client

from accounts import password_work
from accounts.models import User
from accounts.services import passwords
from audit.models import AuditEvent
from tests.accounts.test_passwords import NEW_PASSWORD, change, change_email, reset_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_busy_slot(settings):
    """One slot per process, a 50 ms wait, and a way to take the slot as a concurrent hash would."""
    settings.AUTHSITE_PASSWORD_HASH_CONCURRENCY = 1
    settings.AUTHSITE_PASSWORD_HASH_WAIT_SECONDS = 0.05

    @contextmanager
    def taken():
        slots = password_work._semaphore()
        assert slots.acquire(timeout=1)
        try:
            yield
        finally:
            slots.release()

    return taken


def assert_busy_page(response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "Temporarily unavailable" in response.text
    assert "Traceback" not in response.text


def test_a_password_change_that_finds_no_slot_is_a_503_and_changes_nothing(
    signed_in, user, password, one_busy_slot
):
    with one_busy_slot():
        response = change(signed_in, password, NEW_PASSWORD)
    assert_busy_page(response)
    user.refresh_from_db()
    assert user.check_password(password)
    assert not AuditEvent.objects.filter(action="user.password.changed").exists()

    # Nothing was counted against the user: the change goes through once a slot is free.
    assert change(signed_in, password, NEW_PASSWORD).status_code == 303
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_wrong_current_password_refused_for_want_of_a_slot_is_not_counted(
    signed_in, user, password, one_busy_slot, settings
):
    settings.AUTHSITE_PASSWORD_CHECK_FAILURES_PER_USER = 1
    with one_busy_slot():
        assert_busy_page(change_email(signed_in, "bob@example.com", "not my password"))
    assert not AuditEvent.objects.filter(outcome="failure").exists()
    # The one allowed wrong password is still there to be used (and then counted).
    page = change_email(signed_in, "bob@example.com", "not my password")
    assert page.status_code == 200
    assert "Your current password is not correct" in page.text


def test_a_reset_that_finds_no_slot_is_a_503_and_leaves_the_link_usable(
    http, user, mail, password, one_busy_slot
):
    link = reset_link(http, mail, user)
    opened = http.get(link)
    form_url = opened.headers["location"]
    page = http.get(form_url)
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    with one_busy_slot():
        response = http.post(form_url, data={**data, "csrfmiddlewaretoken": token})
    assert_busy_page(response)
    user.refresh_from_db()
    assert user.check_password(password)

    done = http.post(form_url, data={**data, "csrfmiddlewaretoken": token})
    assert done.status_code == 303
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_registration_that_finds_no_slot_is_a_503_and_creates_no_account(one_busy_slot):
    cache.clear()
    form = {
        "email": "new@example.com",
        "username": "",
        "password1": "a long and unusual passphrase 7",
        "password2": "a long and unusual passphrase 7",
    }
    with one_busy_slot():
        response = Client().post("/accounts/register/", form)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert not User.objects.filter(email="new@example.com").exists()
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_a_new_password_is_hashed_outside_any_transaction(user, password, monkeypatch):
    """The hash runs with no transaction open, so no pooled connection waits on it."""
    seen = []
    original = Argon2PasswordHasher.encode

    def spy(self, *args, **kwargs):
        seen.append(connection.in_atomic_block)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Argon2PasswordHasher, "encode", spy)
    passwords.change_password(user, password, NEW_PASSWORD)
    passwords.set_password_for_user(user, password, source="test")
    assert seen == [False, False]
    user.refresh_from_db()
    assert user.check_password(password)
