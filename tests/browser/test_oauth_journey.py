"""A person signs in and approves an application in a real browser (chromium)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from common.conf import authsite_settings
from tests.support.oauth import REDIRECT_URI, make_client, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_consent_in_a_browser(page, live_server, user, password):
    app, _secret = make_client(name="Photo app", scopes=["openid", "profile"])
    _verifier, challenge = pkce_pair()
    captured = {}

    def relying_party(route):
        captured["url"] = route.request.url
        route.fulfill(status=200, content_type="text/plain", body="back at the app")

    page.route("https://rp.test/**", relying_party)
    messages = []
    page.on("console", lambda message: messages.append(message))

    page.goto(
        f"{live_server.url}/oauth/authorize?response_type=code&client_id={app.client_id}"
        f"&redirect_uri={REDIRECT_URI}&scope=openid%20profile&state=st-1"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    assert "/accounts/login/" in page.url
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").is_visible()

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert "Photo app" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://rp.test/**")

    query = parse_qs(urlsplit(captured["url"]).query)
    assert query["state"] == ["st-1"] and query["code"][0]
    assert query["iss"] == [authsite_settings.PUBLIC_URL]  # the configured issuer (RFC 9207)
    assert not [m.text for m in messages if m.type == "error"]
