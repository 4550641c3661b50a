"""Multi-factor authentication: TOTP, recovery codes, WebAuthn, the sign-in step, staff MFA.

ASVS 6.5.1 (single use), 6.5.2–6.5.5 (hashed codes, 30 s step), 6.3.3 (staff MFA),
7.5.1 (re-authentication), RFC 9700 §4.14.2 (removal revokes tokens).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time

import cbor2
import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from django.contrib.auth import SESSION_KEY

from accounts.models import RecoveryCode, TOTPDevice, User, WebAuthnCredential
from accounts.services import mfa
from audit.models import AuditEvent
from common import ratelimit
from tests.support.oauth import authorize, code_from, exchange, pkce_pair, refresh

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SETUP = "/accounts/mfa/totp/setup/"
VERIFY = "/accounts/mfa/verify/"
CODES = "/accounts/mfa/recovery-codes/"


def forget_counters(user) -> None:
    ratelimit.reset(f"mfa-user:{user.pk}")
    ratelimit.reset(f"pwcheck:{user.pk}")  # wrong current passwords


@pytest.fixture(autouse=True)
def _fresh_mfa_counters(request):
    """MFA throttles live in the shared cache and outlive a test database (row ids
    repeat between runs): every test starts with none counted."""
    ratelimit.reset("mfa-ip:127.0.0.1")
    for name in ("user", "staff"):
        if name in request.fixturenames:
            forget_counters(request.getfixturevalue(name))
    yield
    ratelimit.reset("mfa-ip:127.0.0.1")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def enrol_totp(client, password) -> str:
    """Set up TOTP through the pages; return the secret shown on the page."""
    page = client.get(SETUP)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.content.decode())[1]
    secret = secret.replace(" ", "")
    response = client.post(SETUP, {"code": pyotp.TOTP(secret).now(), "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


@pytest.fixture
def totp_user(client, user, password):
    """alice (e-mail verified) with TOTP confirmed and no code used yet."""
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    secret = pyotp.random_base32()
    TOTPDevice.objects.create(
        user=user,
        secret_encrypted=mfa.encrypt(secret),
        confirmed="2025-01-01T00:00:00Z",
        last_used_step=0,
    )
    return user, secret


def password_step(client, password, **extra):
    return client.post(LOGIN, {"username": "alice", "password": password, **extra})


# --- TOTP enrolment ---


def test_setup_page_shows_an_inline_svg_qr_code_and_the_secret(client, user, password):
    client.force_login(user)
    response = client.get(SETUP)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and "<img" not in body and "http" not in body.split("<svg", 1)[1][:200]
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)[1].replace(" ", "")
    assert len(secret) == 32  # 160 bits
    assert "no-store" in response["Cache-Control"]


def test_confirming_with_a_first_code_stores_the_secret_encrypted(client, user, password):
    client.force_login(user)
    secret = enrol_totp(client, password)
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed is not None
    assert secret not in device.secret_encrypted
    assert mfa.decrypt(device.secret_encrypted) == secret
    assert AuditEvent.objects.filter(action="user.mfa.enrolled", details__method="totp").exists()


def test_setup_refuses_a_wrong_code_or_a_wrong_password(client, user, password):
    client.force_login(user)
    page = client.get(SETUP).content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)[1].replace(" ", "")
    wrong_code = client.post(SETUP, {"code": "000000", "password": password})
    assert "That code does not match" in wrong_code.content.decode()
    wrong_password = client.post(SETUP, {"code": pyotp.TOTP(secret).now(), "password": "nope"})
    assert "current password is not correct" in wrong_password.content.decode()
    garbage = client.post(SETUP, {"code": "x" * 10_000 + "\x00", "password": "\x00"})
    assert garbage.status_code == 200
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_current_password_inputs_take_the_sign_in_forms_length_limit_from_the_setting(
    client, user, password, settings
):
    """Like the sign-in form: no maxlength that would cut a pasted password; a password
    longer than AUTHSITE_PASSWORD_MAX_LENGTH is a field error, never a wrong password."""
    client.force_login(user)
    page = client.get(SETUP).content.decode()
    (tag,) = re.findall(r'<input[^>]+name="password"[^>]*>', page)
    assert "maxlength" not in tag
    settings.AUTHSITE_PASSWORD_MAX_LENGTH = 40
    refused = client.post(SETUP, {"code": "123456", "password": "p" * 41})
    assert "use at most 40 characters (it has 41)" in refused.content.decode()
    assert not AuditEvent.objects.filter(outcome="failure").exists()


def test_first_enrolment_shows_ten_recovery_codes_once(client, user, password):
    client.force_login(user)
    enrol_totp(client, password)
    first = client.get(CODES).content.decode()
    codes = re.findall(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>", first)
    assert len(codes) == 10 and len(set(codes)) == 10
    again = client.get(CODES).content.decode()
    assert not re.findall(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>", again)
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert all(code not in h and code.replace("-", "").upper() not in h for h in stored)


# --- sign-in with TOTP ---------------------------------------------------------------------------


def test_password_alone_does_not_sign_in_an_enrolled_user(client, totp_user, password):
    response = password_step(client, password, next="/somewhere")
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert not signed_in(client)
    assert "Code from your authenticator app" in client.get(VERIFY).content.decode()


def test_wrong_code_is_refused_and_the_right_one_signs_in(client, totp_user, password):
    user, secret = totp_user
    password_step(client, password, next="/somewhere")
    wrong = client.post(VERIFY, {"method": "totp", "code": "123456"})
    assert wrong.status_code == 400
    assert "not valid" in wrong.content.decode() and not signed_in(client)
    right = client.post(VERIFY, {"method": "totp", "code": pyotp.TOTP(secret).now()})
    assert right.status_code == 302 and right["Location"] == "/somewhere"
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session["authsite_amr"] == ["pwd", "otp"]
    assert AuditEvent.objects.filter(action="user.mfa.used").count() == 1
    assert AuditEvent.objects.filter(action="user.mfa.failed").count() == 1


def test_the_same_code_is_refused_a_second_time(client, totp_user, password):
    _, secret = totp_user
    code = pyotp.TOTP(secret).now()
    password_step(client, password)
    assert client.post(VERIFY, {"method": "totp", "code": code}).status_code == 302
    client.logout()
    password_step(client, password)
    replay = client.post(VERIFY, {"method": "totp", "code": code})
    assert replay.status_code == 400 and not signed_in(client)


def test_a_code_from_the_previous_step_is_accepted(client, totp_user, password):
    _, secret = totp_user
    password_step(client, password)
    previous = pyotp.TOTP(secret).at(time.time() - 30)
    assert client.post(VERIFY, {"method": "totp", "code": previous}).status_code == 302
    assert signed_in(client)


def test_a_code_two_steps_old_is_refused(client, totp_user, password):
    _, secret = totp_user
    password_step(client, password)
    old = pyotp.TOTP(secret).at(time.time() - 90)
    assert client.post(VERIFY, {"method": "totp", "code": old}).status_code == 400


def test_six_attempts_are_throttled_even_with_the_right_code(client, totp_user, password):
    _, secret = totp_user
    password_step(client, password)
    for _ in range(5):
        assert client.post(VERIFY, {"method": "totp", "code": "000000"}).status_code == 400
    throttled = client.post(VERIFY, {"method": "totp", "code": pyotp.TOTP(secret).now()})
    assert throttled.status_code == 429
    assert re.search(r"Too many attempts\. Try again in \d+ minutes?\.", throttled.content.decode())
    assert not signed_in(client)


def test_bad_input_on_the_verify_page_is_a_form_error(client, totp_user, password):
    password_step(client, password)
    for data in (
        {},
        {"method": "totp"},
        {"method": "x", "code": "1"},
        {"method": "totp", "code": "1\x00"},
        {"method": "totp", "code": "9" * 10_000},
    ):
        response = client.post(VERIFY, data)
        assert response.status_code == 400, data
        assert 'role="alert"' in response.content.decode()


def test_verify_page_without_a_pending_sign_in_sends_back_to_login(client, db):
    response = client.get(VERIFY)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_pending_sign_in_expires(client, totp_user, password, settings):
    _, secret = totp_user
    password_step(client, password)
    settings.AUTHSITE_MFA_PENDING_SECONDS = 0
    time.sleep(1)
    response = client.post(VERIFY, {"method": "totp", "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not signed_in(client)


# --- recovery codes ---


def test_each_recovery_code_works_once(client, totp_user, password):
    user, _ = totp_user
    codes = mfa.generate_recovery_codes(user)
    password_step(client, password)
    ok = client.post(VERIFY, {"method": "recovery", "code": codes[0].upper()})
    assert ok.status_code == 302 and signed_in(client)
    assert client.session["authsite_amr"] == ["pwd", "otp"]
    client.logout()
    password_step(client, password)
    again = client.post(VERIFY, {"method": "recovery", "code": codes[0]})
    assert again.status_code == 400 and not signed_in(client)
    assert mfa.unused_recovery_codes(user) == 9


def test_regenerating_needs_the_password_and_invalidates_old_codes(client, totp_user, password):
    user, _ = totp_user
    old = mfa.generate_recovery_codes(user)
    client.force_login(user)
    refused = client.post(CODES, {"password": "wrong"})
    assert refused.status_code == 400
    assert "current password is not correct" in refused.content.decode()
    assert client.post(CODES, {"password": password}).status_code == 302
    new = re.findall(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>", client.get(CODES).content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert not mfa.use_recovery_code(user, old[1])
    assert mfa.use_recovery_code(user, new[1])


def test_wrong_passwords_on_the_mfa_pages_are_throttled_with_a_wait(
    client, totp_user, password, settings
):
    """ASVS 7.5.1: re-authentication is the one current-password check, so a borrowed
    session cannot guess the password here any faster than on the password page."""
    settings.AUTHSITE_PASSWORD_CHECK_FAILURES_PER_USER = 2
    user, _ = totp_user
    old = mfa.generate_recovery_codes(user)
    client.force_login(user)
    for _attempt in range(2):
        assert client.post(CODES, {"password": "wrong"}).status_code == 400
    refused = client.post(CODES, {"password": password})
    body = refused.content.decode()
    assert refused.status_code == 400
    assert re.search(r"too many times\. Try again in \d+ minutes?\.", body)
    assert mfa.use_recovery_code(user, old[0])  # the old codes still stand
    failed = AuditEvent.objects.filter(action="user.mfa.enrolled", outcome="failure")
    assert [event.details["reason"] for event in failed.order_by("id")] == [
        "wrong_current_password",
        "wrong_current_password",
        "too_many_wrong_passwords",
    ]
    key_refused = post_json(
        client, "/accounts/mfa/webauthn/register/options/", {"name": "k", "password": password}
    )
    assert key_refused.status_code == 429
    assert "Try again in" in key_refused.json()["detail"]


# --- ID token amr / acr ---


def id_token_claims(http, app, secret) -> dict:
    verifier, challenge = pkce_pair()
    code = code_from(authorize(http, app.client_id, challenge=challenge, scope="openid"))
    token = exchange(http, app, secret, code, verifier).json()
    payload = token["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def http_sign_in(http, password):
    page = http.get(LOGIN)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    return http.post(
        LOGIN, data={"username": "alice", "password": password, "csrfmiddlewaretoken": csrf}
    )


def test_id_token_says_pwd_and_acr_1_without_mfa(http, user, password, first_party):
    app, secret = first_party
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    assert http_sign_in(http, password).status_code == 302
    claims = id_token_claims(http, app, secret)
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1"


def test_id_token_says_otp_and_acr_2_after_totp(http, totp_user, password, first_party):
    _, totp_secret = totp_user
    app, secret = first_party
    assert http_sign_in(http, password).headers["location"].startswith(VERIFY)
    page = http.get(VERIFY)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    done = http.post(
        VERIFY,
        data={"method": "totp", "code": pyotp.TOTP(totp_secret).now(), "csrfmiddlewaretoken": csrf},
    )
    assert done.status_code == 302
    claims = id_token_claims(http, app, secret)
    assert "otp" in claims["amr"] and "pwd" in claims["amr"] and claims["acr"] == "2"


# --- removing TOTP ---


def test_removing_totp_needs_the_current_password(http, totp_user, password, first_party):
    user, totp_secret = totp_user
    app, secret = first_party
    http_sign_in(http, password)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', http.get(VERIFY).text)[1]
    http.post(
        VERIFY,
        data={"method": "totp", "code": pyotp.TOTP(totp_secret).now(), "csrfmiddlewaretoken": csrf},
    )

    overview = http.get("/accounts/mfa/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', overview.text)[1]
    refused = http.post(
        "/accounts/mfa/totp/remove/", data={"remove-password": "wrong", "csrfmiddlewaretoken": csrf}
    )
    assert refused.status_code == 400 and "current password is not correct" in refused.text
    assert TOTPDevice.objects.filter(user=user).exists()

    removed = http.post(
        "/accounts/mfa/totp/remove/",
        data={"remove-password": password, "csrfmiddlewaretoken": csrf},
    )
    assert removed.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="user.mfa.reset").exists()


def test_removing_totp_revokes_the_users_refresh_tokens(http, totp_user, password, first_party):
    user, totp_secret = totp_user
    app, secret = first_party
    http_sign_in(http, password)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', http.get(VERIFY).text)[1]
    http.post(
        VERIFY,
        data={"method": "totp", "code": pyotp.TOTP(totp_secret).now(), "csrfmiddlewaretoken": csrf},
    )
    verifier, challenge = pkce_pair()
    code = code_from(authorize(http, app.client_id, challenge=challenge, scope="openid"))
    tokens = exchange(http, app, secret, code, verifier).json()
    mfa.remove_totp(user)
    assert refresh(http, app, secret, tokens["refresh_token"]).status_code == 400


def test_removing_totp_ends_the_users_other_sessions(client, totp_user):
    """ASVS 7.4.3: whoever is signed in elsewhere must sign in again after a factor goes."""
    user, _ = totp_user
    client.force_login(user)
    assert client.get("/accounts/account/").status_code == 200
    mfa.remove_totp(user)
    assert client.get("/accounts/account/").status_code == 302


# --- staff and the admin ---


@pytest.fixture
def staff(db, password):
    return User.objects.create_user(
        email="root@example.com", username="root", password=password, is_staff=True
    )


def test_staff_without_mfa_cannot_reach_the_admin_until_enrolled(client, staff, password, settings):
    settings.AUTHSITE_STAFF_MFA_REQUIRED = True
    response = client.post(LOGIN, {"username": "root", "password": password, "next": "/admin/"})
    assert response["Location"] == "/admin/"
    blocked = client.get("/admin/")
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(SETUP) and "next=%2Fadmin%2F" in blocked["Location"]
    enrol_totp(client, password)
    assert client.get("/admin/").status_code == 200


def test_admin_login_of_an_enrolled_user_asks_for_the_second_factor(
    client, staff, password, settings
):
    settings.AUTHSITE_STAFF_MFA_REQUIRED = True
    secret = pyotp.random_base32()
    TOTPDevice.objects.create(
        user=staff, secret_encrypted=mfa.encrypt(secret), confirmed="2025-01-01T00:00:00Z"
    )
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": password, "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302
    done = client.post(VERIFY, {"method": "totp", "code": pyotp.TOTP(secret).now()})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_staff_session_without_a_second_factor_is_asked_for_one(client, staff, settings):
    settings.AUTHSITE_STAFF_MFA_REQUIRED = True
    TOTPDevice.objects.create(
        user=staff,
        secret_encrypted=mfa.encrypt(pyotp.random_base32()),
        confirmed="2025-01-01T00:00:00Z",
    )
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)


def test_without_the_setting_staff_reach_the_admin_with_a_password(client, staff, settings):
    settings.AUTHSITE_STAFF_MFA_REQUIRED = False
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


# --- WebAuthn, with a software authenticator ---


class SoftwareAuthenticator:
    """A P-256 authenticator with ``none`` attestation, enough for the ceremonies."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.counter = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def create(self, options: dict, origin: str) -> dict:
        client_data = json.dumps(
            {"type": "webauthn.create", "challenge": options["challenge"], "origin": origin}
        ).encode()
        auth_data = (
            hashlib.sha256(options["rp"]["id"].encode()).digest()
            + bytes([0x01 | 0x04 | 0x40])
            + (0).to_bytes(4, "big")
            + bytes(16)
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["usb", "bogus"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(self, options: dict, origin: str, *, user_handle: bytes | None = None) -> dict:
        self.counter += 1
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": options["challenge"], "origin": origin}
        ).encode()
        auth_data = (
            hashlib.sha256(options["rpId"].encode()).digest()
            + bytes([0x01 | 0x04])
            + self.counter.to_bytes(4, "big")
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if user_handle is not None:
            response["userHandle"] = b64url(user_handle)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": response,
        }


def post_json(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def register_key(client, password, authenticator):
    options = post_json(
        client,
        "/accounts/mfa/webauthn/register/options/",
        {"name": "Blue key", "password": password},
    )
    assert options.status_code == 200, options.content
    credential = authenticator.create(options.json(), mfa.expected_origin())
    return post_json(client, "/accounts/mfa/webauthn/register/verify/", credential)


def test_registering_a_security_key_needs_the_password(client, user, password):
    client.force_login(user)
    refused = post_json(
        client, "/accounts/mfa/webauthn/register/options/", {"name": "k", "password": "wrong"}
    )
    assert refused.status_code == 400
    assert "current password is not correct" in refused.json()["detail"]


def test_register_then_sign_in_with_the_key_as_second_factor(client, user, password):
    client.force_login(user)
    authenticator = SoftwareAuthenticator()
    response = register_key(client, password, authenticator)
    assert response.status_code == 200, response.content
    assert response.json()["redirect"].startswith(CODES)  # first factor: recovery codes next
    stored = WebAuthnCredential.objects.get(user=user)
    assert stored.name == "Blue key" and stored.discoverable and stored.transports == ["usb"]
    client.logout()

    assert password_step(client, password, next="/x")["Location"].startswith(VERIFY)
    options = post_json(client, "/accounts/mfa/verify/webauthn/options/", {}).json()
    assert options["allowCredentials"][0]["id"] == stored.credential_id
    assertion = authenticator.get(options, mfa.expected_origin())
    done = post_json(client, "/accounts/mfa/verify/webauthn/", assertion)
    assert done.status_code == 200, done.content
    assert done.json()["redirect"] == "/x"
    assert client.session["authsite_amr"] == ["pwd", "hwk"]
    stored.refresh_from_db()
    assert stored.sign_count == 1 and stored.last_used is not None


def test_a_replayed_assertion_is_refused(client, user, password):
    client.force_login(user)
    authenticator = SoftwareAuthenticator()
    register_key(client, password, authenticator)
    client.logout()
    password_step(client, password)
    options = post_json(client, "/accounts/mfa/verify/webauthn/options/", {}).json()
    assertion = authenticator.get(options, mfa.expected_origin())
    assert post_json(client, "/accounts/mfa/verify/webauthn/", assertion).status_code == 200
    client.logout()
    password_step(client, password)
    post_json(client, "/accounts/mfa/verify/webauthn/options/", {})
    replay = post_json(client, "/accounts/mfa/verify/webauthn/", assertion)
    assert replay.status_code == 400 and not signed_in(client)


def test_passkey_signs_in_without_a_password(client, user, password, http):
    client.force_login(user)
    authenticator = SoftwareAuthenticator()
    register_key(client, password, authenticator)
    client.logout()
    options = post_json(client, "/accounts/mfa/passkey/options/", {}).json()
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    assertion = authenticator.get(options, mfa.expected_origin(), user_handle=user.uuid.bytes)
    done = post_json(client, "/accounts/mfa/passkey/verify/", {**assertion, "next": "//evil.test"})
    assert done.status_code == 200 and done.json()["redirect"] == "/accounts/account/"
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session["authsite_amr"] == ["hwk", "mfa"]


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", json.dumps({"id": "x"}), json.dumps({"id": 5, "response": "no"})],
)
def test_webauthn_endpoints_answer_bad_input_with_a_json_400(client, user, password, body):
    client.force_login(user)
    post_json(
        client, "/accounts/mfa/webauthn/register/options/", {"name": "k", "password": password}
    )
    response = client.post(
        "/accounts/mfa/webauthn/register/verify/", data=body, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"] in (
        "bad_request",
        "invalid",
        "challenge",
    )
    client.logout()
    post_json(client, "/accounts/mfa/passkey/options/", {})
    response = client.post(
        "/accounts/mfa/passkey/verify/", data=body, content_type="application/json"
    )
    assert response.status_code == 400 and "detail" in response.json()


def test_an_assertion_without_a_challenge_is_refused(client, user, password):
    client.force_login(user)
    authenticator = SoftwareAuthenticator()
    register_key(client, password, authenticator)
    client.logout()
    fake = {"challenge": b64url(b"not issued"), "rpId": mfa.rp_id()}
    response = post_json(
        client, "/accounts/mfa/passkey/verify/", authenticator.get(fake, mfa.expected_origin())
    )
    assert response.status_code == 400 and response.json()["error"] == "challenge"
    assert not signed_in(client)


def test_another_users_key_cannot_be_removed(client, user, password, staff):
    other = WebAuthnCredential.objects.create(
        user=staff, name="k", credential_id="abc", public_key=b"x"
    )
    client.force_login(user)
    response = client.post(
        f"/accounts/mfa/webauthn/{other.pk}/remove/", {f"key{other.pk}-password": password}
    )
    assert response.status_code == 404
    assert WebAuthnCredential.objects.filter(pk=other.pk).exists()
