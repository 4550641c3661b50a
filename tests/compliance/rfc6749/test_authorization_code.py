"""RFC 6749 §4.1.2, §4.1.3: an authorization code is short-lived, bound to its client and
redirect URI, and used once; a replay revokes what it minted."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest

from django.utils import timezone

from oauth.models import Grant
from tests.support.oauth import (
    active,
    assert_error,
    code_for,
    exchange,
    introspect,
    make_client,
    pkce_pair,
    refresh,
    userinfo,
)

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 6749", "4.1.2")
def test_expired_code_is_invalid_grant(signed_in, first_party):
    """RFC 6749 §4.1.2: a code redeemed after it expired → invalid_grant (RFC 6749 §4.1.2: 10 min
    max)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    grant = Grant.objects.get(code=code)
    assert grant.expires - timezone.now() <= timedelta(minutes=10)
    Grant.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert_error(exchange(signed_in, app, secret, code, verifier), "invalid_grant")


@pytest.mark.spec("RFC 6749", "4.1.3")
def test_code_is_bound_to_its_client(signed_in, first_party):
    """RFC 6749 §4.1.3: another client's credentials → invalid_grant, and the code still works for
    its own client afterwards (the attempt did not claim it)."""
    app, secret = first_party
    other, other_secret = make_client(name="Other RP", first_party=True)
    code, verifier = code_for(signed_in, app)
    assert_error(exchange(signed_in, other, other_secret, code, verifier), "invalid_grant")
    assert exchange(signed_in, app, secret, code, verifier).status_code == HTTPStatus.OK


@pytest.mark.spec("RFC 6749", "4.1.3")
@pytest.mark.parametrize("redirect_uri", ["https://rp.test/other", "https://rp.test/cb/"])
def test_code_is_bound_to_its_redirect_uri(signed_in, first_party, redirect_uri):
    """RFC 6749 §4.1.3: a redirect_uri other than the authorization request's → invalid_grant (RFC
    6749 §4.1.3, §5.2)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    response = exchange(signed_in, app, secret, code, verifier, redirect_uri=redirect_uri)
    assert_error(response, "invalid_grant")


@pytest.mark.spec("RFC 6749", "4.1.2")
def test_code_replay_revokes_what_the_code_minted(signed_in, first_party):
    """RFC 6749 §4.1.2, RFC 9700 §4.2.4: a second redemption → invalid_grant, and the first access
    and refresh tokens stop working (OAuth 2.1 §4.1.3; OIDF oidcc-codereuse)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    first = exchange(signed_in, app, secret, code, verifier)
    assert first.status_code == HTTPStatus.OK
    tokens = first.json()
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.OK

    assert_error(exchange(signed_in, app, secret, code, verifier), "invalid_grant")

    assert introspect(signed_in, app, secret, tokens["access_token"]).json() == {"active": False}
    info = userinfo(signed_in, tokens["access_token"])
    assert info.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in info.headers["www-authenticate"]
    assert_error(refresh(signed_in, app, secret, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.spec("RFC 6749", "4.1.2")
@pytest.mark.parametrize("attempt", ["wrong-verifier", "no-verifier", "wrong-secret"])
def test_unproven_code_replay_revokes_nothing(signed_in, first_party, attempt):
    """RFC 6749 §4.1.2: a replay without the verifier or the client's secret fails and revokes
    nothing (OAuth 2.1 §7.5.2: no one can revoke someone's tokens by guessing)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    tokens = exchange(signed_in, app, secret, code, verifier).json()
    if attempt == "wrong-secret":
        response = exchange(signed_in, app, "not-the-secret", code, verifier)
        assert_error(response, "invalid_client", HTTPStatus.UNAUTHORIZED)
    else:
        wrong = pkce_pair()[0] if attempt == "wrong-verifier" else None
        response = exchange(signed_in, app, secret, code, wrong)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert active(signed_in, app, secret, tokens["access_token"])
    assert userinfo(signed_in, tokens["access_token"]).status_code == HTTPStatus.OK
    assert refresh(signed_in, app, secret, tokens["refresh_token"]).status_code == HTTPStatus.OK
