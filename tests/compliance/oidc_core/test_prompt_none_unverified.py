"""OIDC Core §3.1.2.1, §3.1.2.6: prompt=none for a signed-in account whose e-mail address is
not verified. The verification page cannot be shown, so the client hears
``interaction_required`` (with state and iss) at its registered redirect URI, whether the
request came by GET or by form POST and whatever else would have been asked (consent).
"""

from __future__ import annotations

from http import HTTPStatus

import pytest

from accounts.models import User
from common.conf import authsite_settings
from oauth.models import Grant
from tests.support.oauth import (
    REDIRECT_URI,
    authorize,
    authorize_by_post,
    pkce_pair,
    redirect_query,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified(signed_in, user):
    User.objects.filter(pk=user.pk).update(email_verified=False)
    return signed_in


@pytest.mark.spec("OIDC Core", "3.1.2.6")
@pytest.mark.parametrize("client", ["first_party", "confidential"])
@pytest.mark.parametrize("send", [authorize, authorize_by_post], ids=["get", "post"])
def test_prompt_none_for_an_unverified_account_is_interaction_required(
    request, unverified, client, send
):
    """OIDC Core §3.1.2.6: no page may be shown, so the client gets interaction_required with
    state and iss, and no code; a third-party client without consent hears the same (the
    account must be verified before consent could even be asked)."""
    app, _ = request.getfixturevalue(client)
    _, challenge = pkce_pair()
    response = send(unverified, app.client_id, challenge=challenge, prompt="none")
    assert response.status_code == HTTPStatus.FOUND, response.text[:300]
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = redirect_query(response)
    assert query["error"] == "interaction_required"
    assert query["state"] == "s-123"
    assert query["iss"] == authsite_settings.PUBLIC_URL
    assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.spec("RFC 6749", "4.1.2.1")
@pytest.mark.parametrize("send", [authorize, authorize_by_post], ids=["get", "post"])
@pytest.mark.parametrize("bad", ["redirect_uri", "client_id"])
def test_prompt_none_for_an_unverified_account_never_redirects_to_an_unregistered_uri(
    unverified, first_party, send, bad
):
    """RFC 6749 §4.1.2.1: with an unknown client or redirect URI the answer is the error page."""
    app, _ = first_party
    _, challenge = pkce_pair()
    extra = {"redirect_uri": "https://evil.test/cb"} if bad == "redirect_uri" else {}
    client_id = "no-such-client" if bad == "client_id" else app.client_id
    response = send(unverified, client_id, challenge=challenge, prompt="none", **extra)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "location" not in response.headers


@pytest.mark.spec("OIDC Core", "3.1.2.1")
def test_unverified_account_without_prompt_none_is_sent_to_verify(unverified, first_party):
    """OIDC Core §3.1.2.1: without prompt=none the browser goes to the verification page,
    not to the client."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize_by_post(unverified, app.client_id, challenge=challenge)
    assert response.status_code == HTTPStatus.FOUND
    assert response.headers["location"].startswith("/accounts/verify/required/")
