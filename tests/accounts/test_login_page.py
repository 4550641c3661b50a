"""The hosted sign-in and sign-out pages (accounts:login, accounts:logout)."""

from __future__ import annotations

import re

import pytest

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
GENERIC_ERROR = "The username/e-mail or password is incorrect."


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def sign_in(client, password, **extra):
    return client.post(LOGIN, {"username": "alice", "password": password, **extra})


def test_page_shows_username_and_password_fields_and_a_csrf_token(client):
    response = client.get(LOGIN)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in body and 'autocomplete="username"' in body
    assert 'type="password"' in body and 'name="password"' in body
    assert 'autocomplete="current-password"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert '<label for="id_username">' in body and '<label for="id_password">' in body
    assert '<button type="submit">Sign in</button>' in body


@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com", "Alice@Example.com"])
def test_sign_in_by_username_or_email_rotates_the_session_key(client, user, password, login):
    before = client.session.session_key  # an anonymous session exists first
    client.get(LOGIN)
    response = client.post(LOGIN, {"username": login, "password": password})
    assert response.status_code in (302, 303)
    assert response["Location"] == "/accounts/account/"  # no next: the account page
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert client.session[SESSION_KEY] == str(user.pk)


def test_wrong_password_and_unknown_account_look_the_same(client, user):
    wrong = client.post(LOGIN, {"username": "alice", "password": "not the password 1"})
    unknown = client.post(LOGIN, {"username": "nobody", "password": "not the password 1"})
    assert wrong.status_code == unknown.status_code == 200
    assert GENERIC_ERROR in wrong.content.decode()
    assert GENERIC_ERROR in unknown.content.decode()
    assert wrong.context["form"].errors == unknown.context["form"].errors
    assert not signed_in(client)


def test_error_is_announced_and_tied_to_the_inputs(client, user):
    body = client.post(LOGIN, {"username": "alice", "password": "nope nope nope"}).content.decode()
    assert 'id="form-error" class="form-error" role="alert"' in body
    assert body.count('aria-describedby="form-error"') == 2
    assert "nope nope nope" not in body  # the password is never echoed back


def test_inactive_account_cannot_sign_in_and_gets_the_same_message(client, user, password):
    user.is_active = False
    user.save()
    response = sign_in(client, password)
    assert response.status_code == 200
    assert GENERIC_ERROR in response.content.decode()
    assert not signed_in(client)


def test_same_origin_next_is_followed_after_sign_in(client, user, password):
    page = client.get(LOGIN, {"next": "/some/path?x=1"})
    assert 'name="next" value="/some/path?x=1"' in page.content.decode()
    response = sign_in(client, password, next="/some/path?x=1")
    assert response.status_code in (302, 303)
    assert response["Location"] == "/some/path?x=1"


def test_next_survives_a_failed_attempt(client, user, password):
    failed = sign_in(client, "wrong password 123", next="/authorize/?client_id=x")
    assert 'name="next" value="/authorize/?client_id=x"' in failed.content.decode()


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://testserver/absolute",
        "/\tevil",
        "///evil.example",
    ],
)
def test_off_site_or_odd_next_is_ignored(client, user, password, next_url):
    page = client.get(LOGIN, {"next": next_url})
    assert 'name="next"' not in page.content.decode()
    response = sign_in(client, password, next=next_url)
    assert response.status_code in (302, 303)
    assert response["Location"] == "/accounts/account/"


def test_signed_in_visitor_with_next_goes_straight_there(client, user):
    client.force_login(user)
    response = client.get(LOGIN, {"next": "/authorize/?client_id=x"})
    assert response.status_code in (302, 303)
    assert response["Location"] == "/authorize/?client_id=x"
    assert client.get(LOGIN, {"next": "//evil.example"}).status_code == 200


def test_post_without_csrf_token_is_refused(user, password):
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    response = sign_in(client, password)
    assert response.status_code == 403
    assert not signed_in(client)


def test_post_with_csrf_token_succeeds_under_enforced_checks(user, password):
    client = Client(enforce_csrf_checks=True)
    token = client.get(LOGIN).context["csrf_token"]
    response = sign_in(client, password, csrfmiddlewaretoken=str(token))
    assert response.status_code in (302, 303)
    assert signed_in(client)


def test_pages_are_never_cached(client, user, password):
    responses = [
        client.get(LOGIN),
        sign_in(client, "wrong password 123"),
        sign_in(client, password),
        client.get(LOGOUT),
        client.post(LOGOUT),
    ]
    for response in responses:
        assert "no-store" in response["Cache-Control"]


def test_get_on_logout_asks_and_does_not_sign_out(client, user):
    client.force_login(user)
    response = client.get(LOGOUT)
    assert response.status_code == 200
    assert re.search(
        r'<form[^>]*method="post"[^>]*action="/accounts/logout/"', response.content.decode()
    )
    assert signed_in(client)


def test_post_on_logout_signs_out_and_returns_to_the_login_page(client, user):
    client.force_login(user)
    response = client.post(LOGOUT)
    assert response.status_code in (302, 303)
    assert response["Location"] == LOGIN
    assert not signed_in(client)


def test_logout_follows_only_a_same_origin_next(client, user):
    client.force_login(user)
    assert client.post(LOGOUT, {"next": "/bye"})["Location"] == "/bye"
    client.force_login(user)
    assert client.post(LOGOUT, {"next": "https://evil.example/"})["Location"] == LOGIN


def test_oversized_password_is_a_form_error_not_a_crash(client, user):
    response = client.post(LOGIN, {"username": "alice", "password": "x" * 4097})
    assert response.status_code == 200
    assert response.context["form"].has_error("password", "max_length")
    assert 'aria-describedby="id_password_error"' in response.content.decode()
    assert not signed_in(client)


def test_null_characters_are_a_form_error_not_a_crash(client, user):
    response = client.post(LOGIN, {"username": "ali\x00ce", "password": "pass\x00word"})
    assert response.status_code == 200
    assert not signed_in(client)


@pytest.mark.parametrize("method, path", [("get", LOGIN), ("post", LOGIN), ("get", LOGOUT)])
def test_pages_have_no_inline_script_or_style(client, user, method, path):
    if path == LOGOUT:
        client.force_login(user)
    body = getattr(client, method)(path, {"username": "alice", "password": "x"}).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body, re.IGNORECASE)
    assert not re.search(r"\sstyle\s*=", body, re.IGNORECASE)
    assert "<style" not in body.lower()


def test_keep_me_signed_in_sets_a_bounded_persistent_cookie(client, user, password):
    page = client.get("/accounts/login/")
    assert 'name="remember"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": password, "remember": "on"}
    )
    cookie = response.cookies["sessionid"]
    assert int(cookie["max-age"]) == 30 * 86400


def test_without_keep_me_signed_in_the_cookie_ends_with_the_browser(client, user, password):
    response = client.post("/accounts/login/", {"username": "alice", "password": password})
    assert response.status_code in (302, 303)
    assert not response.cookies["sessionid"]["max-age"]


def test_the_password_field_has_no_maxlength_that_would_cut_a_pasted_password(client):
    html = client.get("/accounts/login/").content.decode()
    password_input = re.search(r'<input[^>]+name="password"[^>]*>', html).group(0)
    assert "maxlength" not in password_input
