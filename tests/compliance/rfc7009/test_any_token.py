"""Revocation answers 200 for a token of any length or shape (RFC 7009 §2.2): an invalid
token is not an error, whatever it looks like, and a real token still revokes."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import introspect, refresh, revoke, tokens_for
from tests.support.odd_tokens import HINTS, SHAPES

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 7009", "2.2")
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_revoking_a_token_of_any_shape_answers_200(signed_in, first_party, shape, error_logs):
    """RFC 7009 §2.2: "invalid tokens do not cause an error response": 200 with an empty
    body for any length (1 character to 100 KB), any characters (non-ASCII, NUL, control
    characters, whitespace) and any JWT-like forgery, with every hint (§2.1: an unknown
    hint is ignored); nothing is logged as an error and the caller's real tokens live on."""
    app, secret = first_party
    real = tokens_for(signed_in, app, secret)
    token = SHAPES[shape](real)
    for hint in HINTS:
        extra = {} if hint is None else {"token_type_hint": hint}
        response = revoke(signed_in, app, secret, token, **extra)
        assert response.status_code == HTTPStatus.OK, (hint, response.text[:300])
        assert response.content == b""
    assert error_logs == []
    assert introspect(signed_in, app, secret, real["access_token"]).json()["active"] is True


@pytest.mark.spec("RFC 7009", "2.1")
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.parametrize("hint", HINTS, ids=[repr(hint) for hint in HINTS])
def test_a_real_token_of_the_caller_revokes_whatever_the_hint(
    signed_in, first_party, kind, hint, error_logs
):
    """RFC 7009 §2.1: the hint only speeds up the lookup; a wrong, unknown or empty one still
    revokes the caller's token (and a refresh token's access tokens)."""
    app, secret = first_party
    real = tokens_for(signed_in, app, secret)
    extra = {} if hint is None else {"token_type_hint": hint}
    assert revoke(signed_in, app, secret, real[kind], **extra).status_code == HTTPStatus.OK
    assert introspect(signed_in, app, secret, real["access_token"]).json() == {"active": False}
    assert refresh(signed_in, app, secret, real["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    assert error_logs == []
