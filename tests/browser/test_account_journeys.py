"""What a person does on the hosted pages, in a real browser (Debian's chromium).

Sign in with TOTP, recover with a recovery code, register a passkey and sign in
with it alone, and reset a forgotten password from the e-mailed link.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, login: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username or e-mail").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page, base: str) -> None:
    page.goto(f"{base}/accounts/logout/")
    page.get_by_role("button", name="Sign out").click()


def enrol_totp(page, base: str, password: str) -> str:
    page.goto(f"{base}/accounts/mfa/totp/setup/")
    assert page.locator("figure.qr svg").count() == 1  # the QR code is drawn by the server
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Current password").fill(password)
    page.get_by_role("button", name="Turn on").click()
    # The first method leads to the recovery codes, shown this once.
    page.wait_for_url(re.compile(r".*/accounts/mfa/recovery-codes/.*"))
    return secret


def test_totp_sign_in_and_recovery_code(page, live_server, user, password):
    base = live_server.url
    sign_in(page, base, "alice", password)
    secret = enrol_totp(page, base, password)
    codes = re.findall(r"\b[a-z2-7]{5}-[a-z2-7]{5}\b", page.content(), re.I)
    assert len(set(codes)) == 10
    sign_out(page, base)

    # Password, then the authenticator app.
    sign_in(page, base, "alice", password)
    assert "/accounts/mfa/verify/" in page.url
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Verify").first.click()
    assert page.get_by_role("alert").is_visible()
    # The code of the next 30-second step: a clock one step apart is accepted (RFC 6238 §6).
    page.get_by_label("Code from your authenticator app").fill(
        pyotp.TOTP(secret).at(time.time() + 30)
    )
    page.get_by_role("button", name="Verify").first.click()
    page.goto(f"{base}/accounts/account/")
    assert page.get_by_role("heading", level=1).is_visible()
    assert "/accounts/login/" not in page.url
    sign_out(page, base)

    # Password, then a recovery code; the same code does not work twice.
    for attempt in range(2):
        sign_in(page, base, "alice", password)
        page.get_by_text("Use a recovery code").click()
        page.get_by_label("Recovery code").fill(codes[0])
        page.get_by_role("button", name="Verify").last.click()
        if attempt == 0:
            page.goto(f"{base}/accounts/account/")
            assert "/accounts/login/" not in page.url
            sign_out(page, base)
        else:
            assert page.get_by_role("alert").is_visible()


def test_passkey_registration_and_passwordless_sign_in(page, live_server, user, password, settings):
    base = live_server.url  # http://localhost:…: a relying party id must be a domain, not an IP
    settings.AUTHSITE_PUBLIC_URL = base  # the WebAuthn relying party id is the issuer's host
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    sign_in(page, base, "alice", password)
    page.goto(f"{base}/accounts/mfa/")
    page.get_by_label("Name of the key").fill("Laptop")
    page.get_by_label("Current password").last.fill(password)
    page.get_by_role("button", name="Add a security key or passkey").click()
    page.wait_for_url(re.compile(r".*/accounts/mfa/recovery-codes/.*"))
    page.goto(f"{base}/accounts/mfa/")
    assert page.get_by_text("Laptop").count() >= 1
    sign_out(page, base)

    page.goto(f"{base}/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{base}/accounts/account/")
    assert "/accounts/login/" not in page.url


def test_forgotten_password_reset_from_the_emailed_link(page, live_server, user, mailoutbox):
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label(re.compile("e-mail", re.I)).fill("alice@example.com")
    page.get_by_role("button").filter(has_text=re.compile("reset|send", re.I)).first.click()
    assert len(mailoutbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", mailoutbox[0].body).group(0)
    page.goto(base + link.split("/accounts/", 1)[1].join(["/accounts/", ""]))
    new_password = "a brand new passphrase 2026"
    page.get_by_label(re.compile("^new password$", re.I)).fill(new_password)
    page.get_by_label(re.compile("confirm|again", re.I)).fill(new_password)
    page.get_by_role("button").filter(has_text=re.compile("password", re.I)).first.click()
    sign_in(page, base, "alice", new_password)
    page.goto(f"{base}/accounts/account/")
    assert "/accounts/login/" not in page.url


def test_register_verify_and_end_another_session(chromium, page, live_server, mailoutbox):
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("E-mail address").fill("carol@example.com")
    page.get_by_label("Username (optional)").fill("carol")
    page.get_by_label("Password", exact=True).fill("carol's long passphrase 77")
    page.get_by_label("Password again").fill("carol's long passphrase 77")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r".*/accounts/register/done/.*"))
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["carol@example.com"]
    link = re.search(r"https?://\S+?(/accounts/verify/\S+?/)", mailoutbox[0].body).group(1)
    page.goto(base + link)
    page.get_by_role("button", name="Confirm my address").click()
    page.wait_for_load_state()
    from accounts.models import User

    assert User.objects.get(email="carol@example.com").email_verified

    # Signed in on a second device too; the first ends that other session.
    other = chromium.new_context().new_page()
    sign_in(other, base, "carol", "carol's long passphrase 77")
    sign_in(page, base, "carol", "carol's long passphrase 77")
    page.goto(f"{base}/accounts/account/")
    page.get_by_role("button", name="Sign out all other sessions").click()
    page.wait_for_load_state()
    other.goto(f"{base}/accounts/account/")
    assert "/accounts/login/" in other.url
    page.goto(f"{base}/accounts/account/")
    assert "/accounts/login/" not in page.url
    other.context.close()
