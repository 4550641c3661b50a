"""Client registration (oauth.services.register_client) and redirect URI hygiene."""

from __future__ import annotations

import re

import pytest

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

from oauth.models import Application
from oauth.redirects import validate_redirect_uri
from oauth.services import register_client

pytestmark = pytest.mark.django_db

BAD_REDIRECT_URIS = {
    "http://rp.test/cb": "loopback",
    "javascript:alert(1)": "never allowed",
    "JaVaScRiPt:alert(1)": "never allowed",
    "data:text/html,x": "never allowed",
    "https://rp.test/cb#frag": "fragment",
    "https://*.rp.test/cb": "wildcard",
    "https://evil@rp.test/cb": "user information",
    "https://rp.test/c b": "absolute",  # stored space-separated: "b" is not a URI
}
GOOD_REDIRECT_URIS = [
    "https://rp.test/cb",
    "http://127.0.0.1/cb",
    "http://[::1]:8080/cb",
    "com.example.app:/oauth2redirect",
]


def test_confidential_client_gets_a_server_generated_secret_stored_hashed():
    app, secret = register_client(
        name="Billing",
        public=False,
        redirect_uris=["https://rp.test/cb"],
        scopes=["openid", "email"],
    )
    app.refresh_from_db()
    assert app.client_type == Application.CLIENT_CONFIDENTIAL
    assert app.client_id and app.name == "Billing"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", secret)
    assert app.client_secret != secret and secret not in app.client_secret
    assert app.client_secret.startswith("authsite_sha256$")
    assert check_password(secret, app.client_secret)
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert app.oauth_grant_types() == {"authorization_code", "refresh_token"}
    assert app.allowed_scopes == "openid email"
    assert app.token_endpoint_auth_method == ""


def test_each_client_gets_its_own_id_and_secret():
    first, first_secret = register_client(
        name="A", public=False, grant_types=["client_credentials"]
    )
    second, second_secret = register_client(
        name="A", public=False, grant_types=["client_credentials"]
    )
    assert first.client_id != second.client_id and first_secret != second_secret


def test_public_client_has_no_secret_and_authenticates_with_none():
    app, secret = register_client(
        name="SPA",
        public=True,
        redirect_uris=["https://spa.test/cb"],
        post_logout_redirect_uris=["https://spa.test/"],
        first_party=True,
    )
    assert secret is None
    assert app.client_type == Application.CLIENT_PUBLIC
    assert app.token_endpoint_auth_method == Application.AUTH_NONE
    assert app.first_party is True
    assert app.post_logout_redirect_uris == "https://spa.test/"
    assert not check_password("", app.client_secret), "not even an empty secret matches"


def test_public_client_cannot_use_client_credentials():
    with pytest.raises(ValidationError) as exc:
        register_client(name="CLI", public=True, grant_types=["client_credentials"])
    assert "public client cannot use client_credentials" in str(exc.value.message_dict)
    assert not Application.objects.exists()


def test_client_credentials_client_needs_no_redirect_uri():
    app, secret = register_client(name="Svc", public=False, grant_types=["client_credentials"])
    assert app.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert app.grant_types == "client_credentials" and secret


def test_authorization_code_without_redirect_uri_is_refused():
    with pytest.raises(ValidationError) as exc:
        register_client(name="Web", public=False)
    assert "redirect_uris" in exc.value.message_dict
    assert not Application.objects.exists()


def test_unknown_grant_type_is_refused():
    with pytest.raises(ValidationError) as exc:
        register_client(name="X", public=False, grant_types=["password"])
    assert "Unknown grant type(s): password" in " ".join(exc.value.message_dict["grant_types"])


@pytest.mark.parametrize("uri", BAD_REDIRECT_URIS)
@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_full_clean_rejects_unsafe_redirect_uri(uri, field):
    """RFC 9700 §4.1, RFC 6749 §3.1.2, RFC 8252 §7.3: full_clean() refuses an unsafe URI in
    either field, naming the reason."""
    app = Application(
        name="x",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        **{"redirect_uris": "https://rp.test/ok", field: uri},
    )
    with pytest.raises(ValidationError) as exc:
        app.full_clean()
    messages = " ".join(exc.value.message_dict[field])
    assert BAD_REDIRECT_URIS[uri] in messages


@pytest.mark.parametrize("uri", BAD_REDIRECT_URIS)
def test_register_client_rejects_unsafe_redirect_uri(uri):
    with pytest.raises(ValidationError) as exc:
        register_client(name="x", public=False, redirect_uris=[uri])
    assert exc.value.message_dict["redirect_uris"]
    assert not Application.objects.exists()


def test_register_client_names_the_space_in_a_redirect_uri():
    with pytest.raises(ValidationError) as exc:
        register_client(name="x", public=False, redirect_uris=["https://rp.test/c b"])
    assert "whitespace" in exc.value.message_dict["redirect_uris"][0]


@pytest.mark.parametrize(
    "uri",
    [
        "vbscript:msgbox(1)",
        "FILE:///etc/passwd",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "https://rp.test/cb\x00",
        "https://rp.test/cb\u200b",
        "https://rp.test\\@evil.test/",
        "http://127.0.0.1.evil.test/cb",
        "https:///cb",
        "/cb",
        "myapp:/cb",
        "com.example.app://evil@host/cb",
    ],
)
def test_validator_rejects(uri):
    with pytest.raises(ValidationError) as exc:
        validate_redirect_uri(uri)
    assert exc.value.messages[0]


@pytest.mark.parametrize("uri", GOOD_REDIRECT_URIS + ["http://localhost:8000/cb"])
def test_validator_accepts(uri):
    validate_redirect_uri(uri)


@pytest.mark.parametrize("uri", GOOD_REDIRECT_URIS)
def test_full_clean_accepts_safe_redirect_uri(uri, settings):
    """A native app's private-use scheme must also be in DOT's ALLOWED_REDIRECT_URI_SCHEMES."""
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http", "com.example.app"],
    }
    app, secret = register_client(
        name="ok", public=True, redirect_uris=[uri], post_logout_redirect_uris=[uri]
    )
    assert app.redirect_uris == uri and app.post_logout_redirect_uris == uri
