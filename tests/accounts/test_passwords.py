"""Password policy, reset, change and e-mail change, as a person using the pages sees them.

ASVS 5.0 rows: 6.2.1, 6.2.2/6.2.3, 6.2.4/6.2.12, 6.2.5, 6.2.8, 6.2.9, 6.4.1, 6.4.3,
7.4.3, 7.5.1, 6.3.8 (no enumeration through reset) and 3.5.1 (CSRF).
"""

from __future__ import annotations

import html
import re

import httpx
import pytest

from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError

from accounts import validators
from accounts.models import User, UserSession
from accounts.services import passwords
from audit.models import AuditEvent
from common import ratelimit
from common.conf import authsite_settings
from tests.support.oauth import refresh, sign_in, tokens_for

pytestmark = pytest.mark.django_db

RESET_URL = "/accounts/password/reset/"
CHANGE_URL = "/accounts/password/change/"
EMAIL_URL = "/accounts/email/change/"
NEW_PASSWORD = "plum ink fog over quiet harbours"
UNKNOWN = "nobody-here@example.com"


# --- helpers -------------------------------------------------------------------------


def csrf_token(page) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def submit(client, url, data, *, page_url=None):
    """GET the form page for its CSRF token, then POST ``data`` to ``url``."""
    page = client.get(page_url or url)
    assert page.status_code == 200, page.text[:300]
    return client.post(url, data={**data, "csrfmiddlewaretoken": csrf_token(page)})


def without_csrf(text: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)


def errors_of(page) -> str:
    """The text of every field error on the page."""
    lists = re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', page.text, re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", item) for item in lists))


def link_in(message, path_prefix: str) -> str:
    url = re.search(r"https?://\S+", message.body).group(0)
    assert url.startswith(authsite_settings.PUBLIC_URL + path_prefix), url
    return url[len(authsite_settings.PUBLIC_URL) :]


def is_signed_in(client) -> bool:
    response = client.get(CHANGE_URL)
    return response.status_code == 200


@pytest.fixture
def browser(http):
    """A second, independent browser on the same site (its own cookies)."""
    with httpx.Client(transport=http._transport, base_url=str(http.base_url)) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_counters(user):
    """Rate-limit counters live in Redis and outlive a test."""
    yield
    for address in (user.email, UNKNOWN, "bob@example.com"):
        ratelimit.reset(f"pwreset-address:{address}")
    ratelimit.reset("pwreset-ip:127.0.0.1")


def request_reset(client, mail, email):
    with mail():
        return submit(client, RESET_URL, {"email": email})


def reset_link(client, mail, user) -> str:
    before = len(mail.messages)
    request_reset(client, mail, user.email)
    assert len(mail.messages) == before + 1
    return link_in(mail.messages[-1], "/accounts/password/reset/")


def complete_reset(client, mail, link, password=NEW_PASSWORD):
    opened = client.get(link)
    assert opened.status_code == 302
    form_url = opened.headers["location"]
    with mail():
        return submit(
            client,
            form_url,
            {"new_password1": password, "new_password2": password},
        )


def verified(user):
    """Authorization needs a verified address (AUTHSITE_REQUIRE_VERIFIED_EMAIL)."""
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.refresh_from_db()
    return user


def session_row_for(client, user) -> UserSession:
    key = client.cookies[django_settings.SESSION_COOKIE_NAME]
    row, _ = UserSession.objects.get_or_create(user=user, session_key=key)
    return row


# --- the policy ----------------------------------------------------------------------


def refused(password, user=None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as error:
        return error.messages
    return []


def test_a_seven_character_password_is_refused_with_the_minimum_named():
    assert any("at least 12 characters" in m for m in refused("tulipsx"))


@pytest.mark.parametrize(
    "password",
    [
        "plum ink fog",  # 12 lowercase characters: no composition rules
        "quiet harbour lanterns drift past sleepy orchards at dawn again!",  # 64
        ("violet kettle marble drift " * 5)[:128],
        "ünïcödé späces and emoji 🙂 kept",
    ],
)
def test_long_passphrases_without_composition_rules_are_accepted(password):
    assert refused(password) == []


def test_64_and_128_characters_are_within_the_limit():
    assert refused(("k3ttle drift marble " * 4)[:64]) == []
    assert refused(("k3ttle drift marble " * 8)[:128]) == []


def test_a_password_past_the_maximum_gets_a_message_naming_the_limit():
    messages = refused("x" * 4097)
    assert messages == ["This password is too long: use at most 4096 characters (it has 4097)."]


@pytest.mark.parametrize(
    "password",
    ["password1", "Password123!", "iseedeadpeople", "WhosYourDaddy", "2qwerty123456!"],
)
def test_common_and_breached_passwords_are_refused_with_advice(password):
    messages = refused(password)
    assert messages
    assert any("Choose another" in m or "Add some letters" in m for m in messages), messages


def test_a_breached_entry_that_only_the_bundled_list_knows_is_refused():
    """``iseedeadpeople`` is in zxcvbn's breach list but not in Django's common list."""
    assert refused("iseedeadpeople") == [
        m for m in refused("iseedeadpeople") if "leaked from other sites" in m
    ]
    assert "iseedeadpeople" in validators.breached_passwords()


def test_a_password_like_the_account_names_is_refused(user):
    messages = refused("alice@example.com", user)
    assert any("too similar to your e-mail address" in m for m in messages)


# --- password reset ------------------------------------------------------------------


def test_reset_answers_the_same_for_known_and_unknown_addresses(http, user, mail):
    known = request_reset(http, mail, user.email)
    known_page = http.get(known.headers["location"])
    unknown = request_reset(http, mail, UNKNOWN)
    unknown_page = http.get(unknown.headers["location"])

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert known.content == unknown.content
    assert known_page.status_code == unknown_page.status_code == 200
    assert without_csrf(known_page.text) == without_csrf(unknown_page.text)
    assert "Check your e-mail" in known_page.text
    for page in (http.get(RESET_URL), known_page):
        assert "no-store" in page.headers["cache-control"]
    assert [m.to for m in mail.messages] == [[user.email]]

    events = AuditEvent.objects.filter(action="user.password.reset_requested")
    assert events.get(outcome="success").target_id == str(user.uuid)
    failure = events.get(outcome="failure")
    assert failure.target_type == "email" and failure.details["reason"] == "unknown_address"


def test_reset_mail_goes_to_the_stored_address_for_any_case_of_it(http, user, mail):
    request_reset(http, mail, "ALICE@Example.COM")
    assert [m.to for m in mail.messages] == [["alice@example.com"]]


def test_reset_link_sets_the_password_once_and_does_not_sign_in(http, user, mail, password):
    link = reset_link(http, mail, user)
    assert authsite_settings.PUBLIC_URL in mail.messages[0].body

    opened = http.get(link)
    assert opened.status_code == 302
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert token not in opened.headers["location"]  # the token leaves the URL

    done = complete_reset(http, mail, link)
    assert done.status_code == 303
    assert done.headers["location"] == "/accounts/password/reset/complete/"
    assert "Sign in with your new password" in http.get(done.headers["location"]).text
    assert not is_signed_in(http)  # MFA still applies: the next sign-in is a normal one

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(password)
    assert AuditEvent.objects.filter(action="user.password.reset_completed").count() == 1
    assert mail.messages[-1].subject.endswith("password was changed")

    again = http.get(link)
    assert again.status_code == 400
    assert "invalid, has expired or was already used" in html.unescape(again.text)


def test_an_expired_reset_link_is_refused(http, user):
    generator = passwords.reset_tokens
    issued = generator._num_seconds(generator._now()) - (
        authsite_settings.PASSWORD_RESET_TIMEOUT_SECONDS + 5
    )
    token = generator._make_token_with_timestamp(user, issued, generator.secret)
    response = http.get(f"/accounts/password/reset/{passwords.encode_uid(user)}/{token}/")
    assert response.status_code == 400
    assert "Ask for a new link" in response.text


@pytest.mark.parametrize("uid,token", [("garbage", "1-2"), ("%00", "x"), ("MTIz", "set-password")])
def test_a_malformed_reset_link_shows_the_invalid_link_page(http, uid, token):
    assert http.get(f"/accounts/password/reset/{uid}/{token}/").status_code == 400


def test_reset_ends_other_sessions_and_revokes_refresh_tokens(
    http, browser, user, password, mail, confidential
):
    verified(user)
    sign_in(browser, user.username, password)
    app, secret = confidential
    tokens = tokens_for(browser, app, secret)
    row = session_row_for(browser, user)
    assert is_signed_in(browser)

    link = reset_link(http, mail, user)
    assert complete_reset(http, mail, link).status_code == 303

    assert not is_signed_in(browser)
    assert not Session.objects.filter(session_key=row.session_key).exists()
    assert refresh(http, app, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_reset_from_a_browser_signed_in_as_the_user_signs_it_out(http, user, password, mail):
    sign_in(http, user.username, password)
    session_row_for(http, user)
    link = reset_link(http, mail, user)
    assert complete_reset(http, mail, link).status_code == 303
    assert not is_signed_in(http)


def test_reset_form_shows_policy_errors_on_the_field(http, user, mail):
    link = reset_link(http, mail, user)
    page = complete_reset(http, mail, link, password="short")
    assert page.status_code == 200
    assert "at least 12 characters" in errors_of(page)
    assert 'autocomplete="new-password"' in page.text


def test_reset_requests_beyond_the_per_address_limit_send_nothing_and_look_the_same(
    http, user, mail
):
    limit = authsite_settings.PASSWORD_RESET_REQUESTS_PER_ADDRESS
    responses = [request_reset(http, mail, user.email) for _ in range(limit + 2)]
    assert len(mail.messages) == limit
    assert {(r.status_code, r.headers["location"]) for r in responses} == {
        (303, "/accounts/password/reset/done/")
    }
    limited = AuditEvent.objects.filter(
        action="user.password.reset_requested", details__reason="rate_limited"
    )
    assert limited.count() == 2


def test_reset_requests_beyond_the_per_ip_limit_send_nothing(http, user, mail, settings):
    settings.AUTHSITE_PASSWORD_RESET_REQUESTS_PER_IP = 2
    request_reset(http, mail, UNKNOWN)
    request_reset(http, mail, "bob@example.com")
    response = request_reset(http, mail, user.email)
    assert response.status_code == 303
    assert mail.messages == []


@pytest.mark.parametrize(
    "value,message",
    [
        ("", "Enter the e-mail address of your account."),
        ("x" * 10_000 + "@example.com", "at most 254 characters"),
        ("alice\x00@example.com", "Null characters are not allowed."),
        ("not-an-address", "Enter a valid e-mail address"),
    ],
)
def test_bad_reset_input_gives_a_field_error(http, user, value, message):
    page = submit(http, RESET_URL, {"email": value})
    assert page.status_code == 200
    assert message in errors_of(page)


# --- password change -----------------------------------------------------------------


def change(client, current, new, new2=None):
    return submit(
        client,
        CHANGE_URL,
        {
            "current_password": current,
            "new_password1": new,
            "new_password2": new if new2 is None else new2,
        },
    )


def test_change_page_needs_a_signed_in_user(http):
    response = http.get(CHANGE_URL)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/accounts/login/?next=")


def test_change_page_uses_password_inputs_that_managers_understand(signed_in):
    page = signed_in.get(CHANGE_URL)
    assert 'type="password" name="current_password" autocomplete="current-password"' in page.text
    assert 'type="password" name="new_password1" autocomplete="new-password"' in page.text
    assert "maxlength" not in page.text  # a browser would silently cut a pasted password
    assert "no-store" in page.headers["cache-control"]


def test_change_refuses_a_wrong_current_password(signed_in, user, password):
    page = change(signed_in, "not my password at all", NEW_PASSWORD)
    assert page.status_code == 200
    assert "Your current password is not correct" in errors_of(page)
    user.refresh_from_db()
    assert user.check_password(password)
    failure = AuditEvent.objects.get(action="user.password.changed")
    assert failure.outcome == "failure" and failure.details["reason"] == "wrong_current_password"


def test_change_ends_other_sessions_and_tokens_but_keeps_this_one(
    http, browser, user, password, mail, confidential
):
    verified(user)
    sign_in(http, user.username, password)
    sign_in(browser, user.username, password)
    app, secret = confidential
    tokens = tokens_for(browser, app, secret)
    other = session_row_for(browser, user)
    session_row_for(http, user)

    with mail():
        response = change(http, password, NEW_PASSWORD)
    assert response.status_code == 303

    page = http.get(response.headers["location"])
    assert page.status_code == 200 and "Your password has been changed" in page.text
    assert not is_signed_in(browser)
    assert not Session.objects.filter(session_key=other.session_key).exists()
    kept = http.cookies[django_settings.SESSION_COOKIE_NAME]
    assert UserSession.objects.filter(user=user, session_key=kept).exists()
    assert refresh(http, app, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert AuditEvent.objects.get(action="user.password.changed").outcome == "success"
    assert [m.to for m in mail.messages] == [[user.email]]


def test_a_128_character_password_works_exactly_as_typed(browser, signed_in, user, password):
    long_password = ("Violet kettle marble drift " * 5)[:126] + "! "  # a trailing space
    assert len(long_password) == 128
    assert change(signed_in, password, long_password).status_code == 303
    for wrong in (long_password[:-1], long_password.upper(), long_password.strip()):
        page = browser.get("/accounts/login/")
        response = browser.post(
            "/accounts/login/",
            data={
                "username": user.username,
                "password": wrong,
                "csrfmiddlewaretoken": csrf_token(page),
            },
        )
        assert response.status_code == 200, wrong
    sign_in(browser, user.username, long_password)


def test_change_past_the_maximum_length_is_a_field_error(signed_in, password):
    page = change(signed_in, password, "y" * 4097)
    assert page.status_code == 200
    assert "use at most 4096 characters (it has 4097)" in errors_of(page)


@pytest.mark.parametrize("new", ["", "x" * 10_000, "nul\x00 in the new password"])
def test_bad_change_input_gives_field_errors(signed_in, password, new):
    page = change(signed_in, password, new)
    assert page.status_code == 200
    assert errors_of(page).strip()


def test_mismatched_new_passwords_say_what_to_do(signed_in, password):
    page = change(signed_in, password, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert "Type the same new password in both fields" in errors_of(page)


def test_change_throttles_wrong_current_passwords(signed_in, user, password, settings):
    settings.AUTHSITE_PASSWORD_CHECK_FAILURES_PER_USER = 2
    for _ in range(2):
        change(signed_in, "wrong guess number one", NEW_PASSWORD)
    page = change(signed_in, password, NEW_PASSWORD)
    assert "too many times" in errors_of(page)
    user.refresh_from_db()
    assert user.check_password(password)


# --- e-mail change -------------------------------------------------------------------


def change_email(client, new_email, current):
    return submit(client, EMAIL_URL, {"new_email": new_email, "current_password": current})


def test_email_change_applies_only_after_the_link_is_confirmed(
    signed_in, browser, user, mail, password
):
    with mail():
        response = change_email(signed_in, "bob@example.com", password)
    assert response.status_code == 303
    note = signed_in.get(response.headers["location"])
    assert "We sent a confirmation link to bob@example.com" in html.unescape(note.text)

    user.refresh_from_db()
    assert user.email == "alice@example.com"
    confirm, notice = mail.messages
    assert confirm.to == ["bob@example.com"] and notice.to == ["alice@example.com"]
    assert "bob@example.com" in notice.body
    link = link_in(confirm, "/accounts/email/change/confirm/")

    shown = browser.get(link)  # any browser: the link itself is the proof
    assert shown.status_code == 200 and "bob@example.com" in shown.text
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # a GET (a link preview) changes nothing

    done = browser.post(link, data={"csrfmiddlewaretoken": csrf_token(shown)})
    assert done.status_code == 200 and "is now bob@example.com" in html.unescape(done.text)
    user.refresh_from_db()
    assert user.email == "bob@example.com" and user.email_verified
    event = AuditEvent.objects.get(action="user.email.changed")
    assert event.details == {"old_email": "alice@example.com", "new_email": "bob@example.com"}

    again = browser.post(link, data={"csrfmiddlewaretoken": csrf_token(shown)})
    assert again.status_code == 400 and "already used" in again.text


def test_email_change_needs_the_current_password(signed_in, user, mail):
    with mail():
        page = change_email(signed_in, "bob@example.com", "not the password")
    assert page.status_code == 200
    assert "Your current password is not correct" in errors_of(page)
    assert mail.messages == []


def test_email_change_to_a_taken_address_looks_the_same_then_fails_clearly(
    signed_in, user, mail, password
):
    User.objects.create_user(email="bob@example.com", password="unrelated pass phrase 9")
    with mail():
        response = change_email(signed_in, "Bob@Example.com", password)
    assert response.status_code == 303
    link = link_in(mail.messages[0], "/accounts/email/change/confirm/")
    shown = signed_in.get(link)
    failed = signed_in.post(link, data={"csrfmiddlewaretoken": csrf_token(shown)})
    assert failed.status_code == 400
    assert "already used by another account" in failed.text
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_email_change_to_the_same_address_says_so(signed_in, password):
    page = change_email(signed_in, "ALICE@example.com", password)
    assert "This is already your e-mail address" in errors_of(page)


def test_a_password_change_cancels_a_pending_email_change(signed_in, user, mail, password):
    with mail():
        change_email(signed_in, "bob@example.com", password)
    link = link_in(mail.messages[0], "/accounts/email/change/confirm/")
    assert change(signed_in, password, NEW_PASSWORD).status_code == 303
    assert signed_in.get(link).status_code == 400


def test_a_tampered_email_change_link_is_refused(http):
    response = http.get("/accounts/email/change/confirm/not-a-real-token/")
    assert response.status_code == 400
    assert "invalid or was already used" in response.text


def test_email_change_needs_a_signed_in_user(http):
    assert http.get(EMAIL_URL).status_code == 302


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,data",
    [
        (RESET_URL, {"email": "alice@example.com"}),
        (CHANGE_URL, {"current_password": "x", "new_password1": "y", "new_password2": "y"}),
        (EMAIL_URL, {"new_email": "bob@example.com", "current_password": "x"}),
    ],
)
def test_forms_refuse_posts_without_a_csrf_token(signed_in, url, data):
    signed_in.get(url)
    assert signed_in.post(url, data=data).status_code == 403
