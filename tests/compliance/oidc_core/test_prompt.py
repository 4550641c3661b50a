"""OIDC Core §3.1.2.1, §3.1.2.6: the prompt and max_age parameters with a signed-in user,
and prompt=none without one."""

from __future__ import annotations

import html
import re
from http import HTTPStatus

import pytest

from common.conf import authsite_settings
from tests.support.oauth import approve, authorize, code_from, pkce_pair, redirect_query

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_prompt_none_for_a_first_party_client_returns_a_code_silently(signed_in, first_party):
    """OIDC Core §3.1.2.1: a signed-in user and a client that needs no consent → a code, with
    no page shown."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, prompt="none")
    assert code_from(response)
    assert redirect_query(response)["iss"] == authsite_settings.PUBLIC_URL


@pytest.mark.spec("OIDC Core", "3.1.2.6")
def test_prompt_none_without_consent_is_consent_required(signed_in, confidential):
    """OIDC Core §3.1.2.6: consent would have to be asked → error=consent_required, with
    state and iss."""
    app, _ = confidential
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, prompt="none")
    assert response.status_code == HTTPStatus.FOUND
    query = redirect_query(response)
    assert query["error"] == "consent_required" and query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_prompt_none_after_remembered_consent_returns_a_code(signed_in, confidential):
    """OIDC Core §3.1.2.1: once consent is remembered, prompt=none gets a code silently."""
    app, _ = confidential
    _, challenge = pkce_pair()
    code_from(approve(signed_in, authorize(signed_in, app.client_id, challenge=challenge)))
    _, challenge = pkce_pair()
    assert code_from(authorize(signed_in, app.client_id, challenge=challenge, prompt="none"))


@pytest.mark.spec("OIDC Core", "3.1.2.6")
def test_prompt_none_without_a_session_is_login_required(http, first_party):
    """OIDC Core §3.1.2.6: no signed-in user → error=login_required, not the sign-in page."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(http, app.client_id, challenge=challenge, prompt="none")
    assert redirect_query(response)["error"] == "login_required"


@pytest.mark.spec("OIDC Core", "3.1.2.1")
@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_prompt_login_and_max_age_make_a_signed_in_user_sign_in_again(
    signed_in, first_party, password, extra
):
    """OIDC Core §3.1.2.1: with prompt=login or an exceeded max_age a session is not enough:
    the sign-in page is shown, then the flow resumes once."""
    import time

    app, _ = first_party
    _, challenge = pkce_pair()
    if "max_age" in extra:
        time.sleep(1.1)  # the session's sign-in is now older than max_age=0
    response = authorize(signed_in, app.client_id, challenge=challenge, **extra)
    assert response.status_code == HTTPStatus.FOUND
    login_url = response.headers["location"]
    assert login_url.startswith("/accounts/login/") and "reauth=1" in login_url
    page = signed_in.get(login_url)
    assert page.status_code == HTTPStatus.OK and 'name="password"' in page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_url = html.unescape(re.search(r'name="next" value="([^"]+)"', page.text).group(1))
    assert "prompt=" not in next_url and "max_age=" not in next_url
    back = signed_in.post(
        "/accounts/login/",
        data={
            "username": "alice",
            "password": password,
            "next": next_url,
            "csrfmiddlewaretoken": token,
        },
    )
    assert code_from(signed_in.get(back.headers["location"]))


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_prompt_consent_asks_again_even_when_consent_is_remembered(signed_in, confidential):
    """OIDC Core §3.1.2.1: prompt=consent shows the consent page even when consent is
    remembered."""
    app, _ = confidential
    _, challenge = pkce_pair()
    code_from(approve(signed_in, authorize(signed_in, app.client_id, challenge=challenge)))
    _, challenge = pkce_pair()
    page = authorize(signed_in, app.client_id, challenge=challenge, prompt="consent")
    assert page.status_code == HTTPStatus.OK and 'name="allow"' in page.text
