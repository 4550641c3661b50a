"""prompt=none with a signed-in user (OIDC Core §3.1.2.1, §3.1.2.6; checklist 7.6.2)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from authsite.conf import authsite_settings
from tests.support.oauth import approve, authorize, code_from, pkce_pair, redirect_query

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_prompt_none_for_a_first_party_client_returns_a_code_silently(signed_in, first_party):
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, prompt="none")
    assert code_from(response)
    assert redirect_query(response)["iss"] == authsite_settings.PUBLIC_URL


@pytest.mark.spec("OIDC Core", "3.1.2.6")
def test_prompt_none_without_consent_is_consent_required(signed_in, confidential):
    app, _ = confidential
    _, challenge = pkce_pair()
    response = authorize(signed_in, app.client_id, challenge=challenge, prompt="none")
    assert response.status_code == HTTPStatus.FOUND
    query = redirect_query(response)
    assert query["error"] == "consent_required" and query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_prompt_none_after_remembered_consent_returns_a_code(signed_in, confidential):
    app, _ = confidential
    _, challenge = pkce_pair()
    code_from(approve(signed_in, authorize(signed_in, app.client_id, challenge=challenge)))
    _, challenge = pkce_pair()
    assert code_from(authorize(signed_in, app.client_id, challenge=challenge, prompt="none"))


@pytest.mark.spec("OIDC Core", "3.1.2.6")
def test_prompt_none_without_a_session_is_login_required(http, first_party):
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize(http, app.client_id, challenge=challenge, prompt="none")
    assert redirect_query(response)["error"] == "login_required"
