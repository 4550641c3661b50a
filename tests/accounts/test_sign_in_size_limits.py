"""Input of any size on the account forms: a field error naming the limit or a 400, never a
traceback, and no sign-in attempt (ASVS 6.2.9: passwords up to the limit, refused above it
with a message; the server never hashes megabytes on anyone's behalf)."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest

from django.test import Client

from audit.events import Action
from audit.models import AuditEvent
from common.models import RateLimitWindow

pytestmark = pytest.mark.django_db

BODY_ROOM = 990_000  # under the 1 MiB request body limit: the form itself must refuse it
OVER_BODY_LIMIT = "x" * 2_000_000  # over DATA_UPLOAD_MAX_MEMORY_SIZE: a 400 before any form


def no_attempt_recorded() -> bool:
    """Nothing counted towards a lockout, no failed sign-in or password check audited."""
    failures = AuditEvent.objects.filter(
        action__in=[Action.LOGIN_FAILED, Action.LOGIN_LOCKED, Action.PASSWORD_CHANGED]
    )
    return not failures.exists() and not RateLimitWindow.objects.exists()


FORMS = {
    # name: (path, signed in, form data with the password field(s) set to {p})
    "sign-in": ("/accounts/login/", False, {"username": "alice", "password": "{p}"}),
    "admin sign-in": ("/admin/login/", False, {"username": "alice", "password": "{p}"}),
    "registration": (
        "/accounts/register/",
        False,
        {"email": "new@example.com", "password1": "{p}", "password2": "{p}"},
    ),
    "password change": (
        "/accounts/password/change/",
        True,
        {"current_password": "{p}", "new_password1": "{p}", "new_password2": "{p}"},
    ),
    "e-mail change": (
        "/accounts/email/change/",
        True,
        {"new_email": "other@example.com", "current_password": "{p}"},
    ),
}


def post(client, form, password):
    path, signed_in, data = FORMS[form]
    return client.post(path, {k: v.replace("{p}", password) for k, v in data.items()})


def huge_password(form) -> str:
    """As long as fits in one request with the form's other password fields (~1 MB in all)."""
    fields = sum("{p}" in value for value in FORMS[form][2].values())
    return "x" * (BODY_ROOM // fields)


@pytest.mark.parametrize("form", FORMS)
def test_a_megabyte_password_is_a_field_error_naming_the_limit_and_is_never_hashed(
    form, client, user, argon2_runs
):
    if FORMS[form][1]:
        client.force_login(user)
    argon2_runs.clear()
    password = huge_password(form)
    response = post(client, form, password)
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "4096" in body and str(len(password)) in body  # the limit, and what was typed
    assert "Traceback" not in body
    assert argon2_runs == []
    assert no_attempt_recorded()


@pytest.mark.parametrize("form", FORMS)
def test_a_body_over_the_size_limit_is_a_413_and_no_sign_in_is_attempted(
    form, client, user, argon2_runs
):
    if FORMS[form][1]:
        client.force_login(user)
    argon2_runs.clear()
    response = post(client, form, OVER_BODY_LIMIT)
    # 413 Content Too Large (RFC 9110 §15.5.14) on the branded error page.
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "Traceback" not in response.content.decode()
    assert argon2_runs == []
    assert no_attempt_recorded()


SIGN_IN_PAGES = ["/accounts/login/", "/admin/login/"]
TEN_THOUSAND_FIELDS = {f"f{i}": "1" for i in range(10_000)}


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_ten_thousand_fields_are_a_400_and_no_sign_in_is_attempted(path, user, argon2_runs):
    response = Client().post(path, {"username": "alice", "password": "w", **TEN_THOUSAND_FIELDS})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Traceback" not in response.content.decode()
    assert argon2_runs == []
    assert no_attempt_recorded()


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_ten_thousand_fields_log_no_error_and_no_traceback(path, caplog):
    """An oversized request is a client error: no ERROR line, no traceback in the log."""
    with caplog.at_level(logging.INFO):
        Client().post(path, {"username": "alice", "password": "w", **TEN_THOUSAND_FIELDS})
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_password_at_the_limit_is_checked_like_any_other(client, user, argon2_runs):
    """ASVS 6.2.9: the limit is not a truncation; 4096 characters are hashed and compared."""
    response = post(client, "sign-in", "y" * 4096)
    assert response.status_code == HTTPStatus.OK
    assert "The username/e-mail or password is incorrect." in response.content.decode()
    assert len(argon2_runs) == 1


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_a_megabyte_username_is_a_field_error_naming_the_limit_and_nothing_is_hashed(
    path, user, argon2_runs
):
    login = "a" * 900_000
    response = Client().post(path, {"username": login, "password": "some password 1"})
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "254" in body and "Traceback" not in body
    assert argon2_runs == []
    assert no_attempt_recorded()
