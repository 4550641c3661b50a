"""The account page: profile, signed-in sessions, allowed applications, security events,
and the site's look (branding, error pages).

ASVS 7.4.5 / 7.5.2 (list and end sessions), 8.2.2 (object-level access),
8.2.3 (mass assignment), 10.7.x (consent reviewable and revocable), 13.4.2 and
16.5.1 (generic error pages).
"""

from __future__ import annotations

import re

import pytest

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import include, path

from accounts.models import User, UserSession
from accounts.sessions import _session_store, describe_user_agent
from audit.events import Action
from audit.models import AuditEvent
from tests.support.oauth import (
    approve,
    authorize,
    code_from,
    exchange,
    introspect,
    pkce_pair,
    refresh,
)

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ACCOUNT = "/accounts/account/"
END_OTHERS = "/accounts/account/sessions/end-others/"
APPLICATIONS = "/accounts/account/applications/"

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


def browser(user_agent: str, ip: str) -> Client:
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def signed_in_browser(login: str, password: str, *, user_agent=FIREFOX_LINUX, ip="192.0.2.10"):
    client = browser(user_agent, ip)
    response = client.post(LOGIN, {"username": login, "password": password})
    assert response.status_code in (302, 303), response.content[:300]
    return client


def session_key_of(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def row_of(client: Client) -> UserSession:
    return UserSession.objects.get(session_key=session_key_of(client))


def is_signed_in(client: Client) -> bool:
    response = client.get(ACCOUNT)
    return response.status_code == 200


def sessions_section(client: Client) -> str:
    body = client.get(ACCOUNT).content.decode()
    return body[body.index("Where you are signed in") : body.index("Recent security events")]


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def bob(db, password):
    return User.objects.create_user(email="bob@example.com", username="bob", password=password)


# --- The page and the profile ------------------------------------------------------------


def test_the_account_page_and_its_actions_require_sign_in(client, user):
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={ACCOUNT}"
    for url in (END_OTHERS, "/accounts/account/sessions/1/end/", APPLICATIONS):
        assert client.post(url).status_code == 302


def test_the_page_is_not_cached_and_has_no_inline_script_or_style(user, password):
    alice = signed_in_browser("alice", password)
    response = alice.get(ACCOUNT)
    body = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "<script" not in body and "style=" not in body
    assert "alice@example.com" in body


def test_profile_changes_are_saved_and_audited(user, password):
    alice = signed_in_browser("alice", password)
    response = alice.post(
        ACCOUNT, {"first_name": "Alice", "last_name": "Liddell", "username": "alice.l"}
    )
    assert response.status_code == 303
    assert response["Location"] == ACCOUNT
    assert "Your profile was saved." in alice.get(ACCOUNT).content.decode()
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.username) == ("Alice", "Liddell", "alice.l")
    event = AuditEvent.objects.filter(action=Action.USER_CHANGED).get()
    assert sorted(event.details["fields"]) == ["first_name", "last_name", "username"]


def test_privileged_fields_in_a_profile_post_are_ignored(user, password):
    """ASVS 8.2.3: only first name, last name and username are ever read from the form."""
    User.objects.filter(pk=user.pk).update(email_verified=False)
    alice = signed_in_browser("alice", password)
    response = alice.post(
        ACCOUNT,
        {
            "first_name": "Alice",
            "last_name": "",
            "username": "alice",
            "is_staff": "1",
            "is_superuser": "1",
            "email_verified": "1",
            "is_active": "0",
            "email": "mallory@example.com",
            "groups": "1",
        },
    )
    assert response.status_code == 303
    user.refresh_from_db()
    assert user.first_name == "Alice"
    assert not user.is_staff and not user.is_superuser and not user.email_verified
    assert user.is_active and user.email == "alice@example.com"
    assert not user.groups.exists()


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("bob", "A user with that username already exists."),
        ("BOB", "A user with that username already exists."),
        ("al ice", "Enter a valid username"),
        ("alice@example.org", "A username cannot contain @"),
        ("ali\x00ce", "Null characters are not allowed."),
        ("a" * 10_000, "Ensure this value has at most 150 characters"),
        ("pаypal", "mixes letters from different alphabets"),  # Cyrillic а
    ],
)
def test_bad_profile_input_gives_a_field_error_and_changes_nothing(
    user, bob, password, username, message
):
    alice = signed_in_browser("alice", password)
    response = alice.post(ACCOUNT, {"first_name": "A" * 10_000, "username": username})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Your profile was not saved." in body
    assert message in body
    assert 'aria-invalid="true"' in body and 'id="id_username_error"' in body
    user.refresh_from_db()
    assert user.username == "alice" and user.first_name == ""


def test_an_empty_username_removes_it(user, password):
    alice = signed_in_browser("alice", password)
    response = alice.post(ACCOUNT, {"first_name": "", "last_name": "", "username": ""})
    assert response.status_code == 303
    user.refresh_from_db()
    assert user.username is None


# --- Sessions -------------------------------------------------------------------------------


def test_both_sessions_are_listed_with_device_and_address(user, password):
    laptop = signed_in_browser("alice", password, user_agent=FIREFOX_LINUX, ip="192.0.2.10")
    phone = signed_in_browser("alice", password, user_agent=SAFARI_IPHONE, ip="198.51.100.7")
    body = sessions_section(laptop)
    assert "Firefox on Linux" in body and "192.0.2.10" in body
    assert "Safari on iOS" in body and "198.51.100.7" in body
    assert body.count('<span class="badge">this browser</span>') == 1
    assert UserSession.objects.filter(user=user).count() == 2
    assert row_of(phone).ip == "198.51.100.7"


def test_sign_out_removes_the_session_from_the_list(user, password):
    laptop = signed_in_browser("alice", password)
    phone = signed_in_browser("alice", password, user_agent=SAFARI_IPHONE)
    phone_key = session_key_of(phone)
    phone.post("/accounts/logout/")
    assert not UserSession.objects.filter(session_key=phone_key).exists()
    assert "Safari on iOS" not in sessions_section(laptop)


def test_ending_another_session_signs_that_browser_out_everywhere(user, password):
    """ASVS 7.4.5: the ended session is deleted from the shared store, so no instance
    accepts it again."""
    laptop = signed_in_browser("alice", password)
    phone = signed_in_browser("alice", password, user_agent=SAFARI_IPHONE)
    phone_row, phone_key = row_of(phone), session_key_of(phone)

    response = laptop.post(f"/accounts/account/sessions/{phone_row.pk}/end/")

    assert response.status_code == 303 and response["Location"] == ACCOUNT
    assert not _session_store().exists(phone_key)
    assert not UserSession.objects.filter(pk=phone_row.pk).exists()
    phone_response = phone.get(ACCOUNT)
    assert phone_response.status_code == 302
    assert phone_response["Location"].startswith(LOGIN)
    assert SESSION_KEY not in phone.session
    assert is_signed_in(laptop)
    event = AuditEvent.objects.filter(action=Action.LOGOUT).get()
    assert event.details["ended_by"] == "user" and event.details["which"] == "other"
    assert phone_key not in str(event.details)


def test_ending_the_current_session_is_an_ordinary_sign_out(user, password):
    laptop = signed_in_browser("alice", password)
    response = laptop.post(f"/accounts/account/sessions/{row_of(laptop).pk}/end/")
    assert response.status_code == 303 and response["Location"] == LOGIN
    assert not is_signed_in(laptop)
    assert not UserSession.objects.filter(user=user).exists()


def test_sign_out_all_other_sessions_keeps_only_this_browser(user, password):
    laptop = signed_in_browser("alice", password)
    phone = signed_in_browser("alice", password, user_agent=SAFARI_IPHONE)
    work = signed_in_browser("alice", password, user_agent=EDGE_WINDOWS)

    response = laptop.post(END_OTHERS)

    assert response.status_code == 303
    assert not is_signed_in(phone) and not is_signed_in(work)
    assert is_signed_in(laptop)
    assert list(UserSession.objects.filter(user=user)) == [row_of(laptop)]
    assert AuditEvent.objects.filter(action=Action.LOGOUT).count() == 2
    assert "Sign out all other sessions" not in sessions_section(laptop)


def test_alice_cannot_end_bobs_session(user, bob, password):
    """ASVS 8.2.2: another user's session id answers 404, like an unknown one."""
    alice = signed_in_browser("alice", password)
    bobs_browser = signed_in_browser("bob", password, user_agent=SAFARI_IPHONE)
    bobs_row = row_of(bobs_browser)

    assert alice.post(f"/accounts/account/sessions/{bobs_row.pk}/end/").status_code == 404
    assert alice.post("/accounts/account/sessions/999999999/end/").status_code == 404
    assert alice.post("/accounts/account/sessions/99999999999999999999999/end/").status_code == 404
    alice.post(END_OTHERS)

    assert UserSession.objects.filter(pk=bobs_row.pk).exists()
    assert is_signed_in(bobs_browser)
    assert "Safari on iOS" not in sessions_section(alice)


def test_ending_a_session_needs_post(user, password):
    laptop = signed_in_browser("alice", password)
    assert laptop.get(f"/accounts/account/sessions/{row_of(laptop).pk}/end/").status_code == 405
    assert laptop.get(END_OTHERS).status_code == 405
    assert is_signed_in(laptop)


def test_a_session_that_died_elsewhere_is_not_listed(user, password):
    laptop = signed_in_browser("alice", password)
    phone = signed_in_browser("alice", password, user_agent=SAFARI_IPHONE)
    _session_store(session_key_of(phone)).delete()  # expired, or ended by an administrator
    assert "Safari on iOS" not in sessions_section(laptop)
    assert UserSession.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
    ],
)
def test_devices_get_a_short_human_label(user_agent, label):
    assert describe_user_agent(user_agent) == label


# --- Applications the user allowed ------------------------------------------------------------


def consent_and_tokens(http, app, secret) -> dict:
    User.objects.update(email_verified=True)  # relying parties may require it
    verifier, challenge = pkce_pair()
    page = authorize(http, app.client_id, challenge=challenge)
    assert page.status_code == 200 and "Allow" in page.text  # the consent page
    response = exchange(http, app, secret, code_from(approve(http, page)), verifier)
    assert response.status_code == 200, response.text
    return response.json()


def test_allowed_applications_are_listed_and_access_can_be_revoked(
    signed_in, confidential, django_capture_on_commit_callbacks
):
    """ASVS 10.7.2 / 10.7.3: consent is reviewable and revocable; revoking ends the
    client's tokens for the user and forgets the consent."""
    app, secret = confidential
    tokens = consent_and_tokens(signed_in, app, secret)

    page = signed_in.get(APPLICATIONS)
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert "Confidential RP" in page.text
    assert "Your e-mail address" in page.text and "Your name and username" in page.text
    assert f"/accounts/account/applications/{app.client_id}/revoke/" in page.text
    assert 'href="/accounts/account/applications/"' in signed_in.get(ACCOUNT).text

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            f"{APPLICATIONS}{app.client_id}/revoke/",
            data={"csrfmiddlewaretoken": csrf_token(page.text)},
        )
    assert response.status_code == 303
    assert response.headers["location"] == APPLICATIONS
    after = signed_in.get(APPLICATIONS).text
    assert "can no longer use your account" in after
    assert "You have not allowed any application" in after

    assert introspect(signed_in, app, secret, tokens["access_token"]).json() == {"active": False}
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == 400
    again = authorize(signed_in, app.client_id, challenge=pkce_pair()[1])
    assert again.status_code == 200 and "Allow" in again.text  # asks again
    event = AuditEvent.objects.filter(action=Action.CONSENT_REVOKED).get()
    assert event.target_id == app.client_id
    assert event.details["scopes"] == ["email", "openid", "profile"]


def test_revoking_access_needs_post(signed_in, confidential):
    app, secret = confidential
    consent_and_tokens(signed_in, app, secret)
    assert signed_in.get(f"{APPLICATIONS}{app.client_id}/revoke/").status_code == 405
    assert "Confidential RP" in signed_in.get(APPLICATIONS).text


def test_bob_cannot_revoke_alices_consent(user, bob, password, confidential):
    """ASVS 8.2.2: a client bob never allowed answers 404, whoever else allowed it."""
    from oauth import consent

    app, _ = confidential
    consent.remember(user, app, ["openid", "email"])
    bobs_browser = signed_in_browser("bob", password)

    assert bobs_browser.post(f"{APPLICATIONS}{app.client_id}/revoke/").status_code == 404
    assert bobs_browser.post(f"{APPLICATIONS}no-such-client/revoke/").status_code == 404
    assert "Confidential RP" not in bobs_browser.get(APPLICATIONS).content.decode()
    assert consent.is_remembered(user, app, ["openid", "email"])
    assert not AuditEvent.objects.filter(action=Action.CONSENT_REVOKED).exists()


# --- Security events ------------------------------------------------------------------------------


def test_security_events_show_the_users_own_sign_in(user, bob, password):
    alice = signed_in_browser("alice", password, ip="192.0.2.44")
    signed_in_browser("bob", password, ip="203.0.113.99")
    body = alice.get(ACCOUNT).content.decode()
    events = body[body.index("Recent security events") :]
    assert "Sign-in succeeded" in events
    assert "192.0.2.44" in events and "Firefox on Linux" in events
    assert "203.0.113.99" not in events  # bob's sign-in is not alice's business


# --- Branding and error pages -----------------------------------------------------------------


def test_branding_settings_appear_on_pages(client, settings):
    settings.AUTHSITE_SITE_NAME = "Example ID"
    settings.AUTHSITE_SUPPORT_EMAIL = "help@example.org"
    settings.AUTHSITE_LOGO_URL = "/static/brand/logo.svg"
    body = client.get(LOGIN).content.decode()
    assert "<title>Sign in · Example ID</title>" in body
    assert 'href="mailto:help@example.org"' in body
    assert '<img class="brand-logo" src="/static/brand/logo.svg" alt="">' in body
    assert re.search(r'<link rel="stylesheet" href="/branding\.css\?v=[0-9a-f]{12}">', body)


@pytest.mark.parametrize(
    "logo", ["https://cdn.example.net/logo.png", "//cdn.example.net/logo.png", "javascript:x"]
)
def test_a_logo_from_another_origin_is_not_shown(client, settings, logo):
    settings.AUTHSITE_LOGO_URL = logo
    body = client.get(LOGIN).content.decode()
    assert "brand-logo" not in body and "cdn.example.net" not in body


def test_an_invalid_support_address_is_not_shown(client, settings):
    settings.AUTHSITE_SUPPORT_EMAIL = "javascript:alert(1)"
    assert "mailto:" not in client.get(LOGIN).content.decode()


def test_the_branding_stylesheet_serves_the_accent_colour(client, settings):
    settings.AUTHSITE_ACCENT_COLOR = "#AA3300"
    response = client.get("/branding.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "max-age=" in response["Cache-Control"] and "public" in response["Cache-Control"]
    assert "--accent: #aa3300;" in response.content.decode()
    assert "--on-accent: #ffffff;" in response.content.decode()
    settings.AUTHSITE_ACCENT_COLOR = "#ffee00"  # light: dark text on buttons
    assert "--on-accent: #000000;" in client.get("/branding.css").content.decode()


@pytest.mark.parametrize("bad", ["red", "#12345", "#1234567", "#3056d3; } body { display: none"])
def test_an_invalid_accent_colour_falls_back_to_the_default(client, settings, bad):
    settings.AUTHSITE_ACCENT_COLOR = bad
    css = client.get("/branding.css").content.decode()
    assert css == ":root { --accent: #3056d3; --on-accent: #ffffff; }\n"


def test_a_404_page_is_generic_and_in_the_site_look(client, settings):
    settings.DEBUG = False
    settings.AUTHSITE_SITE_NAME = "Example ID"
    response = client.get("/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body and "Example ID" in body
    assert "authsite/site.css" in body and "/branding.css" in body
    assert "URLconf" not in body and "Traceback" not in body


def test_a_csrf_failure_says_the_form_expired(user, password, settings):
    settings.AUTHSITE_SITE_NAME = "Example ID"
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(LOGIN, {"username": "alice", "password": password})
    body = response.content.decode()
    assert response.status_code == 403
    assert "The form expired" in body and "Go back, reload the page, and try again." in body
    assert "Example ID" in body and "authsite/site.css" in body
    assert "CSRF cookie not set" not in body and "CSRF verification failed" not in body
    assert "no-store" in response["Cache-Control"]
    assert not is_signed_in(strict)


def raise_an_error(request):
    raise RuntimeError("database password is hunter2")


urlpatterns = [path("boom/", raise_an_error), path("", include("authsite.urls"))]


def test_a_500_page_is_generic_and_shows_no_traceback(client, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/boom/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body and "authsite/site.css" in body
    assert "hunter2" not in body and "Traceback" not in body and "RuntimeError" not in body


def test_the_account_page_links_to_every_security_setting(client, user):
    client.force_login(user)
    html = client.get("/accounts/account/").content.decode()
    for link in ("/accounts/password/change/", "/accounts/email/change/", "/accounts/mfa/"):
        assert f'href="{link}"' in html
