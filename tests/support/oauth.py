"""OAuth test kit: an in-process HTTP client on the real WSGI app, registered clients, PKCE."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from jwcrypto import jwk, jwt

from common.conf import authsite_settings
from tests.factories import REDIRECT_URI, ApplicationFactory


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@pytest.fixture
def http(db, settings):
    """A browser-like client: cookies, no redirects followed, the real middleware stack."""
    from django.core.wsgi import get_wsgi_application

    settings.ALLOWED_HOSTS = [urlsplit(authsite_settings.PUBLIC_URL).hostname, "testserver"]

    from django.core import signals
    from django.db import close_old_connections

    # As Django's test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    transport = httpx.WSGITransport(app=get_wsgi_application())
    try:
        with httpx.Client(transport=transport, base_url=authsite_settings.PUBLIC_URL) as client:
            yield client
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def sign_in(http, username: str, password: str) -> None:
    page = http.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = http.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
    )
    assert response.status_code in (302, 303), response.text


@pytest.fixture
def signed_in(http, user, password):
    sign_in(http, user.username, password)
    return http


def make_client(
    *,
    name: str = "RP",
    public: bool = False,
    redirect_uris=(REDIRECT_URI,),
    post_logout_redirect_uris=(),
    grant_types=("authorization_code", "refresh_token"),
    scopes=(),
    first_party: bool = False,
    owner=None,
):
    """A registered client and its secret (``None`` when public), in the terms of client
    registration, built by ``ApplicationFactory``."""
    app = ApplicationFactory(
        name=name,
        user=owner,
        public=public,
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        grant_types=" ".join(grant_types),
        allowed_scopes=" ".join(scopes),
        first_party=first_party,
    )
    return app, app.plaintext_secret


@pytest.fixture
def confidential(db):
    return ApplicationFactory.with_secret(
        name="Confidential RP", allowed_scopes="openid profile email"
    )


@pytest.fixture
def first_party(db):
    return ApplicationFactory.with_secret(name="First-party RP", first_party=True)


@pytest.fixture
def public_client(db):
    return ApplicationFactory(name="Public RP", public=True)


@pytest.fixture
def service_client(db):
    return ApplicationFactory.with_secret(name="Service", service=True)


def authorization_params(client_id, *, challenge=None, scope="openid", **extra) -> dict:
    """A valid code-flow authorization request (state ``s-123``, nonce ``n-456``, PKCE S256)
    with ``extra`` on top; a value of None leaves the parameter out."""
    params = {
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": scope,
        "state": "s-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return {k: v for k, v in params.items() if v is not None}


def authorize(http, client_id, *, challenge=None, scope="openid profile email", **extra):
    params = authorization_params(client_id, challenge=challenge, scope=scope, **extra)
    return http.get("/oauth/authorize", params=params)


def authorize_by_post(http, client_id, *, challenge=None, scope="openid", **extra):
    """An authorization request sent as a relying party's auto-submitting cross-site form
    POST (OIDC Core §3.1.2.1); a value of None leaves the parameter out."""
    return http.post(
        "/oauth/authorize",
        data=authorization_params(client_id, challenge=challenge, scope=scope, **extra),
        headers={"Origin": "https://rp.test", "Referer": "https://rp.test/login"},
    )


def approve(http, response):
    """Submit the consent form shown in ``response`` with the allow button."""
    html = response.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    import html as html_lib

    fields = {k: html_lib.unescape(v) for k, v in fields.items()}
    fields["allow"] = "Authorize"
    return http.post("/oauth/authorize", data=fields)


def code_from(response) -> str:
    assert response.status_code == 302, response.text[:500]
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "error" not in query, query
    return query["code"][0]


def redirect_query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def exchange(http, app, secret, code, verifier, **extra):
    """Redeem ``code`` at the token endpoint with client_secret_basic (or as a public client)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    data = {k: v for k, v in data.items() if v is not None}
    if secret is None:
        return http.post("/oauth/token", data={**data, "client_id": app.client_id})
    return http.post("/oauth/token", data=data, auth=(app.client_id, secret))


def code_for(signed_in, app, *, scope="openid profile email", **extra) -> tuple[str, str]:
    """Run the authorization request (approving consent if asked); return (code, verifier)."""
    verifier, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, scope=scope, **extra)
    if response.status_code == 200:
        response = approve(signed_in, response)
    return code_from(response), verifier


def tokens_for(signed_in, app, secret, *, scope="openid profile email", **extra) -> dict:
    """The whole code flow for a signed-in browser; return the token response body."""
    code, verifier = code_for(signed_in, app, scope=scope, **extra)
    response = exchange(signed_in, app, secret, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def client_credentials(http, app, secret, **extra):
    """Ask for a token with the client's own credentials (RFC 6749 §4.4)."""
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **extra},
        auth=(app.client_id, secret),
    )


def service_tokens(http, app, secret, **extra) -> dict:
    """A client-credentials token response that must succeed; return its body."""
    response = client_credentials(http, app, secret, **extra)
    assert response.status_code == HTTPStatus.OK, response.text
    return response.json()


def refresh(http, app, secret, refresh_token, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return http.post("/oauth/token", data=data, auth=(app.client_id, secret))


def introspect(http, app, secret, token, **extra):
    return http.post(
        "/oauth/introspect", data={"token": token, **extra}, auth=(app.client_id, secret)
    )


def revoke(http, app, secret, token, **extra):
    return http.post("/oauth/revoke", data={"token": token, **extra}, auth=(app.client_id, secret))


def userinfo(http, access_token):
    return http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def assert_error(response, error, status=HTTPStatus.BAD_REQUEST):
    """An RFC 6749 §5.2 error as a client sees it: status, JSON body, no tokens."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body


def active(http, app, secret, token) -> bool:
    response = introspect(http, app, secret, token)
    assert response.status_code == HTTPStatus.OK, response.text
    return response.json()["active"]


def assert_error_page(response):
    """A 400 HTML page: nothing is sent to any redirect URI."""
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.text[:300]
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def jwt_claims(http, token: str) -> tuple[dict, dict]:
    """Verify ``token`` against the published JWKS as a client would; return (header, claims)."""
    keyset = jwk.JWKSet.from_json(http.get("/.well-known/jwks.json").text)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] in {key["kid"] for key in keyset["keys"]}
    verified = jwt.JWT(jwt=token, key=keyset, algs=["RS256", "ES256"])
    return header, json.loads(verified.claims)


def assert_login_redirect(response):
    """The browser is sent to authsite's own sign-in page (same host or a relative URL)."""
    assert response.status_code == HTTPStatus.FOUND
    location = urlsplit(response.headers["location"])
    assert location.netloc in ("", urlsplit(authsite_settings.PUBLIC_URL).netloc)
    assert location.path == "/accounts/login/"
