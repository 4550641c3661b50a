"""Registration modes, e-mail verification, resend limits and the unverified-account gate.

Rate limits, as documented in accounts/views/registration.py: past the limit
for the requester's address the page answers 429 with Retry-After; past the
limit for one e-mail address the page looks the same and nothing is sent.
"""

from __future__ import annotations

import html
import re
import time

import pytest

from django.core import signing
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from accounts.identifiers import normalise_username
from accounts.models import User
from accounts.services import registration
from audit.models import AuditEvent
from common.conf import authsite_settings
from tests.support.oauth import authorize, pkce_pair, redirect_query

pytestmark = [pytest.mark.django_db]

PASSWORD = "a long and unusual passphrase 7"
LINK = re.compile(r"https?://[^\s\"<>]+/accounts/verify/[^\s\"<>/]+/")


@pytest.fixture(autouse=True)
def _clean_counters():
    """Rate-limit counters live in the shared cache and would outlive a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run after-commit callbacks (the e-mail task, inline) as a real commit would."""

    def run(callable_, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return callable_(*args, **kwargs)

    return run


def register(client, commit, *, email="new@example.com", username="", password=PASSWORD, **extra):
    data = {
        "email": email,
        "username": username,
        "password1": password,
        "password2": extra.pop("password2", password),
        **extra,
    }
    path = "/accounts/register/"
    if "invitation" in extra:
        path += f"?invitation={extra['invitation']}"
    return commit(client.post, path, data)


def link_in(message) -> str:
    return LINK.search(message.body).group(0)


def path_of(url: str) -> str:
    return url.removeprefix(authsite_settings.PUBLIC_URL)


def html_of(message) -> str:
    (content, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return content


# --- modes ------------------------------------------------------------------------------


def test_open_registration_creates_an_unverified_account_and_emails_a_link(
    client, commit, mailoutbox
):
    page = client.get("/accounts/register/")
    assert page.status_code == 200
    assert page["Cache-Control"].count("no-store")
    assert 'autocomplete="new-password"' in page.content.decode()

    response = register(client, commit, username="newbie")

    assert response.status_code == 303
    assert response["Location"] == "/accounts/register/done/"
    user = User.objects.get(email="new@example.com")
    assert user.username == "newbie" and not user.email_verified
    assert user.password.startswith("argon2")
    [message] = mailoutbox
    assert message.to == ["new@example.com"]
    assert "Confirm your e-mail address" in message.subject
    link = link_in(message)
    assert link.startswith(authsite_settings.PUBLIC_URL + "/accounts/verify/")
    assert link in html_of(message)
    assert AuditEvent.objects.filter(
        action="user.registered", outcome="success", target_id=str(user.uuid)
    ).exists()
    done = client.get("/accounts/register/done/")
    assert "Check your e-mail" in done.content.decode()


def test_registering_a_taken_address_looks_the_same_and_notifies_the_owner(
    client, commit, mailoutbox, user, password
):
    fresh = register(Client(), commit, email="someone-new@example.com")
    taken = register(client, commit, email="ALICE@example.com", password="another passphrase 99")

    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    assert sorted(taken.headers) == sorted(fresh.headers)
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    user.refresh_from_db()
    assert user.check_password(password)  # nothing about the existing account changed
    notice = mailoutbox[-1]
    assert notice.to == ["alice@example.com"]
    assert "tried to register" in notice.subject
    assert "/accounts/login/" in notice.body and "/accounts/verify/" not in notice.body
    assert AuditEvent.objects.filter(
        action="user.registered", outcome="failure", target_id=str(user.uuid)
    ).exists()


def test_closed_mode_says_registration_is_closed(client, commit, settings, mailoutbox):
    settings.AUTHSITE_REGISTRATION_MODE = "closed"

    page = client.get("/accounts/register/")
    posted = register(client, commit)

    assert page.status_code == posted.status_code == 403
    assert "Registration is closed" in page.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()
    assert mailoutbox == []


def test_an_unknown_mode_counts_as_closed(settings):
    settings.AUTHSITE_REGISTRATION_MODE = "opne"
    assert authsite_settings.REGISTRATION_MODE == "closed"


def test_invite_mode_needs_a_valid_invitation_for_the_same_address(
    client, commit, settings, mailoutbox
):
    settings.AUTHSITE_REGISTRATION_MODE = "invite"

    without = client.get("/accounts/register/")
    assert without.status_code == 403
    assert "invitation" in without.content.decode()

    link = registration.make_invitation("Invited@Example.com")
    token = link.split("invitation=", 1)[1]
    page = client.get(path_of(link))
    assert page.status_code == 200
    assert 'value="invited@example.com"' in page.content.decode()

    wrong = register(client, commit, email="other@example.com", invitation=token)
    assert wrong.status_code == 200
    assert "invitation is for another e-mail address" in wrong.content.decode()

    tampered = client.get(f"/accounts/register/?invitation={token[:-2]}xx")
    assert tampered.status_code == 400
    assert "not valid" in tampered.content.decode()

    ok = register(client, commit, email="invited@example.com", invitation=token)
    assert ok.status_code == 303
    assert User.objects.filter(email__iexact="invited@example.com").exists()

    again = client.get(path_of(link))
    assert again.status_code == 400
    assert "already been used" in again.content.decode()


def test_an_expired_invitation_says_so(client, settings, monkeypatch):
    settings.AUTHSITE_REGISTRATION_MODE = "invite"
    settings.AUTHSITE_INVITATION_MAX_AGE_SECONDS = 60
    link = registration.make_invitation("late@example.com")
    later = time.time() + 120
    monkeypatch.setattr(signing.time, "time", lambda: later)

    page = client.get(path_of(link))

    assert page.status_code == 400
    assert "invitation has expired" in page.content.decode()


def test_invite_command_prints_a_working_link(settings, capsys, client):
    settings.AUTHSITE_REGISTRATION_MODE = "invite"
    call_command("invite", "cli@example.com")
    link = capsys.readouterr().out.strip()

    assert link.startswith(authsite_settings.PUBLIC_URL + "/accounts/register/?invitation=")
    assert client.get(path_of(link)).status_code == 200


# --- verification ------------------------------------------------------------------------


def test_the_link_asks_for_a_click_then_verifies_once(client, commit, mailoutbox):
    register(client, commit)
    link = path_of(link_in(mailoutbox[0]))
    user = User.objects.get(email="new@example.com")

    other_browser = Client()
    confirm = other_browser.get(link)
    assert confirm.status_code == 200
    assert "Confirm my address" in confirm.content.decode()
    user.refresh_from_db()
    assert not user.email_verified  # a mail scanner's GET consumes nothing

    done = other_browser.post(link)
    assert done.status_code == 200
    assert "Your e-mail address is verified" in done.content.decode()
    user.refresh_from_db()
    assert user.email_verified
    assert "_auth_user_id" not in other_browser.session  # another browser is not signed in
    assert AuditEvent.objects.filter(
        action="user.email.verified", outcome="success", target_id=str(user.uuid)
    ).exists()

    reused = other_browser.post(link)
    assert reused.status_code == 400
    assert "already been used" in reused.content.decode()
    assert other_browser.get(link).status_code == 400


def test_the_same_browser_is_signed_in_and_returns_to_where_it_came_from(
    client, commit, mailoutbox
):
    register(client, commit, next="/oauth/authorize?client_id=abc")
    link = path_of(link_in(mailoutbox[0]))

    response = client.post(link)

    assert response.status_code == 303
    assert response["Location"] == "/oauth/authorize?client_id=abc"
    user = User.objects.get(email="new@example.com")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_an_expired_link_says_so_and_offers_a_new_one(
    client, commit, mailoutbox, settings, monkeypatch
):
    settings.AUTHSITE_EMAIL_VERIFICATION_MAX_AGE_SECONDS = 60
    register(client, commit)
    link = path_of(link_in(mailoutbox[0]))
    later = time.time() + 120
    monkeypatch.setattr(signing.time, "time", lambda: later)

    page = client.post(link)

    assert page.status_code == 400
    body = page.content.decode()
    assert "This link has expired" in body and "Send a new link" in body
    assert not User.objects.get(email="new@example.com").email_verified
    assert AuditEvent.objects.filter(
        action="user.email.verified", outcome="failure", details__reason="expired"
    ).exists()


def test_a_tampered_link_is_refused(client, commit, mailoutbox):
    register(client, commit)
    link = path_of(link_in(mailoutbox[0]))
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + "/"

    for response in (client.get(tampered), client.post(tampered)):
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    assert client.get("/accounts/verify/%00garbage/").status_code == 400
    assert not User.objects.get(email="new@example.com").email_verified


def test_a_link_for_an_older_address_stops_working(client, commit, mailoutbox):
    register(client, commit)
    link = path_of(link_in(mailoutbox[0]))
    User.objects.filter(email="new@example.com").update(email="changed@example.com")

    assert client.post(link).status_code == 400
    assert not User.objects.get(email="changed@example.com").email_verified


# --- resend and rate limits -------------------------------------------------------------


def test_resend_answers_the_same_for_any_address(client, commit, mailoutbox, user):
    User.objects.filter(pk=user.pk).update(email_verified=True)
    register(client, commit)
    mailoutbox.clear()

    answers = [
        commit(Client().post, "/accounts/verify/resend/", {"email": address})
        for address in ("new@example.com", "nobody@example.com", "alice@example.com")
    ]

    assert {(a.status_code, a["Location"]) for a in answers} == {(303, "/accounts/register/done/")}
    assert [m.to for m in mailoutbox] == [["new@example.com"]]


def test_resend_stops_sending_to_one_address_without_saying_so(
    client, commit, mailoutbox, settings
):
    settings.AUTHSITE_REGISTRATION_EMAILS_PER_ADDRESS = 2
    register(client, commit)  # the first e-mail

    answers = [
        commit(Client().post, "/accounts/verify/resend/", {"email": "new@example.com"})
        for _ in range(3)
    ]

    assert {a.status_code for a in answers} == {303}
    assert len(mailoutbox) == 2


def test_resend_from_one_address_is_throttled_with_429(client, commit, settings, mailoutbox):
    settings.AUTHSITE_REGISTRATION_LIMIT_PER_IP = 2
    for _ in range(2):
        response = client.post("/accounts/verify/resend/", {"email": "x@example.com"})
        assert response.status_code == 303

    throttled = client.post("/accounts/verify/resend/", {"email": "x@example.com"})

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert "Try again in" in throttled.content.decode()


def test_registration_from_one_address_is_throttled_with_429(client, commit, settings):
    settings.AUTHSITE_REGISTRATION_LIMIT_PER_IP = 1
    assert register(client, commit, email="one@example.com").status_code == 303

    throttled = register(client, commit, email="two@example.com")

    assert throttled.status_code == 429
    assert not User.objects.filter(email="two@example.com").exists()


def test_resend_checks_its_input(client):
    for value in ("", "not-an-address", "a\x00@example.com", "a" * 10_000 + "@example.com"):
        response = client.post("/accounts/verify/resend/", {"email": value})
        assert response.status_code == 400
        assert 'class="errorlist"' in response.content.decode()


# --- the OAuth gate ---------------------------------------------------------------------


def test_an_unverified_account_is_sent_to_verify_before_authorizing(
    signed_in, confidential, user, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=user.pk).update(email_verified=False)
    app, _ = confidential
    _, challenge = pkce_pair()

    response = authorize(signed_in, app.client_id, challenge=challenge)

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("/accounts/verify/required/?next=%2Foauth%2Fauthorize")
    page = signed_in.get(location)
    assert page.status_code == 200
    assert "Confirm your e-mail address first" in page.text
    assert "Send me a new link" in page.text
    assert "alice@example.com" in page.text

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_url = html.unescape(re.search(r'name="next" value="([^"]+)"', page.text).group(1))
    with django_capture_on_commit_callbacks(execute=True):
        sent = signed_in.post(
            "/accounts/verify/resend/", data={"csrfmiddlewaretoken": token, "next": next_url}
        )
    assert sent.status_code == 303
    [message] = mailoutbox

    confirm = signed_in.get(path_of(link_in(message)))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.text).group(1)
    verified = signed_in.post(path_of(link_in(message)), data={"csrfmiddlewaretoken": token})
    assert verified.status_code == 303
    assert verified.headers["location"].startswith("/oauth/authorize?")

    again = signed_in.get(verified.headers["location"])
    assert again.status_code == 200, again.headers.get("location")
    assert 'name="allow"' in again.text


def test_prompt_none_for_an_unverified_account_is_interaction_required(
    signed_in, first_party, user
):
    """OIDC Core §3.1.2.6: with prompt=none no page may be shown, so the client hears why."""
    User.objects.filter(pk=user.pk).update(email_verified=False)
    app, _ = first_party
    _, challenge = pkce_pair()

    response = authorize(signed_in, app.client_id, challenge=challenge, prompt="none")

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("https://rp.test/cb?")
    query = redirect_query(response)
    assert query["error"] == "interaction_required" and query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL
    # An unregistered redirect URI still gets the error page, never a redirect.
    bad = authorize(
        signed_in,
        app.client_id,
        challenge=challenge,
        prompt="none",
        redirect_uri="https://evil.test/cb",
    )
    assert bad.status_code == 400 and "location" not in bad.headers


def test_a_verified_account_is_not_stopped(signed_in, confidential, user):
    User.objects.filter(pk=user.pk).update(email_verified=True)
    app, _ = confidential
    _, challenge = pkce_pair()

    response = authorize(signed_in, app.client_id, challenge=challenge)

    assert response.status_code == 200 and 'name="allow"' in response.text


def test_the_gate_can_be_turned_off(signed_in, confidential, user, settings):
    User.objects.filter(pk=user.pk).update(email_verified=False)
    settings.AUTHSITE_REQUIRE_VERIFIED_EMAIL = False
    app, _ = confidential
    _, challenge = pkce_pair()

    assert authorize(signed_in, app.client_id, challenge=challenge).status_code == 200


def test_verify_required_sends_anonymous_people_to_sign_in(client):
    response = client.get("/accounts/verify/required/?next=/oauth/authorize")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


# --- the form ---------------------------------------------------------------------------


def test_a_mixed_script_username_is_refused_with_a_clear_message(client, commit):
    response = register(client, commit, username="p\u0430ypal")  # Cyrillic "а"

    assert response.status_code == 200
    body = response.content.decode()
    assert "mixes letters from different alphabets" in body
    assert 'aria-invalid="true"' in body
    assert not User.objects.filter(email="new@example.com").exists()


def test_usernames_are_nfkc_normalised(client, commit):
    register(client, commit, username="\uff41\uff4c\uff49\uff43\uff45\uff12")  # full-width

    assert User.objects.get(email="new@example.com").username == "alice2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("иван", "иван"),  # one alphabet, not all lookalikes
        ("山田たろう", "山田たろう"),  # Japanese mixes Han and Hiragana
        ("ｊｏｈｎ", "john"),
    ],
)
def test_single_script_usernames_are_accepted(value, expected):
    assert normalise_username(value) == expected


@pytest.mark.parametrize("value", ["admіn", "раураl", "a\u200bdmin", "Αlpha"])
def test_lookalike_usernames_are_refused(value):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        normalise_username(value)


def test_a_taken_username_is_a_field_error_whatever_the_address(client, commit, user):
    for address in ("fresh@example.com", "alice@example.com"):
        response = register(client, commit, email=address, username="ALICE")

        assert response.status_code == 200
        assert "This username is taken" in response.content.decode()
    assert not User.objects.filter(email="fresh@example.com").exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short"}, "too short"),
        ({"password": "password1234"}, "common"),
        ({"password2": "something else entirely"}, "two passwords differ"),
        ({"email": "not an address"}, "valid email"),
        ({"email": "nul\x00@example.com"}, "Null characters are not allowed"),
        ({"username": "ab\x00cd"}, "Null characters are not allowed"),
        ({"email": "a" * 10_000 + "@example.com"}, "at most 254 characters"),
        ({"username": "u" * 10_000}, "at most 150 characters"),
        ({"password": "p" * 10_000}, "at most 4096 characters"),
    ],
)
def test_bad_input_gives_a_form_error(client, commit, mailoutbox, fields, message):
    response = register(client, commit, **fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()
    assert mailoutbox == []


def test_password_inputs_take_the_sign_in_forms_length_limit_from_the_setting(
    client, commit, settings
):
    """Like the sign-in form: no maxlength that would cut a pasted password, and the limit
    a too-long password is told about is AUTHSITE_PASSWORD_MAX_LENGTH."""
    page = client.get("/accounts/register/").content.decode()
    inputs = re.findall(r'<input[^>]+name="password[12]"[^>]*>', page)
    assert len(inputs) == 2 and not any("maxlength" in tag for tag in inputs)
    settings.AUTHSITE_PASSWORD_MAX_LENGTH = 40
    response = register(client, commit, password="p" * 41)
    assert "use at most 40 characters (it has 41)" in response.content.decode()
    assert not User.objects.exists()


def test_csrf_is_enforced(commit):
    browser = Client(enforce_csrf_checks=True)

    response = register(browser, commit)

    assert response.status_code == 403
    assert not User.objects.exists()
