"""RFC 7636 §4.6: the token endpoint issues tokens only for the code_verifier that matches
the code's code_challenge."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.support.oauth import code_for, exchange, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 7636", "4.6")
@pytest.mark.parametrize("verifier", ["wrong", None, ""], ids=["wrong", "missing", "empty"])
def test_wrong_missing_or_empty_verifier_gets_no_tokens(signed_in, first_party, verifier):
    """RFC 7636 §4.6: a wrong, missing or empty code_verifier never gets tokens."""
    app, secret = first_party
    code, _ = code_for(signed_in, app)
    if verifier == "wrong":
        verifier = pkce_pair()[0]
    response = exchange(signed_in, app, secret, code, verifier)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error == "invalid_grant" if verifier else error in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.json()
