"""Introspection answers ``{"active": false}`` for a token of any length or shape
(RFC 7662 §2.2), never an error about the token itself."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import introspect, tokens_for
from tests.support.odd_tokens import HINTS, SHAPES

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 7662", "2.2")
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_introspecting_a_token_of_any_shape_answers_inactive(
    signed_in, first_party, shape, error_logs
):
    """RFC 7662 §2.2: a token that is not active, unknown or malformed gets 200
    ``{"active": false}`` and nothing else: for any length (1 character to 100 KB), any
    characters (non-ASCII, NUL, control characters, whitespace), any JWT-like forgery
    (bad signature, changed payload, another issuer, alg none) and every hint (§2.1);
    nothing is logged as an error."""
    app, secret = first_party
    real = tokens_for(signed_in, app, secret)
    token = SHAPES[shape](real)
    for hint in HINTS:
        extra = {} if hint is None else {"token_type_hint": hint}
        response = introspect(signed_in, app, secret, token, **extra)
        assert response.status_code == HTTPStatus.OK, (hint, response.text[:300])
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"active": False}
    assert error_logs == []


@pytest.mark.spec("RFC 7662", "2.1")
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.parametrize("hint", HINTS, ids=[repr(hint) for hint in HINTS])
def test_a_real_token_is_active_whatever_the_hint(signed_in, first_party, kind, hint):
    """RFC 7662 §2.1: the hint is only a lookup order; a wrong, unknown or empty hint still
    finds the token."""
    app, secret = first_party
    real = tokens_for(signed_in, app, secret)
    extra = {} if hint is None else {"token_type_hint": hint}
    response = introspect(signed_in, app, secret, real[kind], **extra)
    assert response.status_code == HTTPStatus.OK, response.text
    assert response.json()["active"] is True
