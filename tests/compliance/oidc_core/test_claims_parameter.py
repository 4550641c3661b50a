"""OIDC Core §5.4, §5.5: which claims a client gets, and where.

The rule (README, oauth/claims.py): scopes release claims, to userinfo; the
ID token carries ``sub`` and the protocol claims plus the released claims
the client asks for in ``claims.id_token``. The ``claims`` parameter
relocates claims, it never releases one whose scope was not granted.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus

import pytest

from common.conf import authsite_settings
from oauth.models import Grant
from tests.support.oauth import (
    REDIRECT_URI,
    authorize,
    authorize_by_post,
    code_for,
    exchange,
    pkce_pair,
    redirect_query,
    tokens_for,
    userinfo,
)

pytestmark = pytest.mark.django_db

PROFILE_AND_EMAIL = {
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
}
# What an ID token carries whatever the scope (OIDC Core §2, §3.1.3.6).
PROTOCOL_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "acr",
    "sid",
    "jti",
    "azp",
}


def payload(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims_param(document) -> str:
    return json.dumps(document)


def flow(signed_in, app, secret, *, scope="openid profile email", claims=None):
    """The code flow; return (ID token claims, userinfo body)."""
    extra = {"claims": claims_param(claims)} if claims is not None else {}
    tokens = tokens_for(signed_in, app, secret, scope=scope, **extra)
    info = userinfo(signed_in, tokens["access_token"])
    assert info.status_code == HTTPStatus.OK, info.text
    return payload(tokens["id_token"]), info.json()


@pytest.fixture
def named_user(user):
    user.first_name, user.last_name = "Alice", "Liddell"
    user.save(update_fields=["first_name", "last_name"])
    return user


# --- malformed claims parameter -----------------------------------------------------


MALFORMED = {
    "not-json": "{",
    "trailing-garbage": '{"id_token": {}} x',
    "array": "[]",
    "string": '"email"',
    "number": "1",
    "null": "null",
    "id_token-array": '{"id_token": ["email"]}',
    "id_token-string": '{"id_token": "email"}',
    "id_token-null": '{"id_token": null}',
    "userinfo-number": '{"userinfo": 1}',
    "claim-number": '{"userinfo": {"email": 1}}',
    "claim-string": '{"id_token": {"email": "essential"}}',
    "claim-true": '{"id_token": {"email": true}}',
    "essential-string": '{"userinfo": {"email": {"essential": "yes"}}}',
    "essential-null": '{"id_token": {"email": {"essential": null}}}',
    "value-object": '{"id_token": {"sub": {"value": {}}}}',
    "value-array": '{"id_token": {"sub": {"value": ["a"]}}}',
    "values-string": '{"id_token": {"acr": {"values": "2"}}}',
    "values-nested": '{"id_token": {"acr": {"values": [["2"]]}}}',
    "value-and-values": '{"id_token": {"acr": {"value": "1", "values": ["2"]}}}',
    "nan": '{"id_token": {"acr": {"value": NaN}}}',
    "infinity": '{"id_token": {"acr": {"value": Infinity}}}',
    "deeply-nested": '{"x": ' + "[" * 5000 + "]" * 5000 + "}",
}


@pytest.mark.spec("OIDC Core", "5.5")
@pytest.mark.parametrize("client", ["first_party", "confidential"])
def test_malformed_claims_parameter_is_invalid_request(request, signed_in, client):
    """OIDC Core §5.5, §3.1.2.6: a claims value that is not a claims request (bad JSON, not
    an object, members of the wrong shape) → error=invalid_request with state and iss, no code,
    never a 500 or a consent page."""
    app, _ = request.getfixturevalue(client)
    _, challenge = pkce_pair()
    for case, raw in MALFORMED.items():
        response = authorize(signed_in, app.client_id, challenge=challenge, claims=raw)
        assert response.status_code == HTTPStatus.FOUND, (case, response.text[:300])
        assert response.headers["location"].startswith(REDIRECT_URI + "?"), case
        query = redirect_query(response)
        assert query["error"] == "invalid_request", case
        assert query["state"] == "s-123" and query["iss"] == authsite_settings.PUBLIC_URL
        assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.spec("OIDC Core", "5.5")
def test_malformed_claims_parameter_by_form_post_is_invalid_request(signed_in, first_party):
    """OIDC Core §5.5, §3.1.2.1: the same for a POSTed authorization request."""
    app, _ = first_party
    _, challenge = pkce_pair()
    response = authorize_by_post(signed_in, app.client_id, challenge=challenge, claims="{")
    assert redirect_query(response)["error"] == "invalid_request"
    assert not Grant.objects.exists()


@pytest.mark.spec("OIDC Core", "5.5")
def test_unknown_members_of_a_claims_request_are_ignored(signed_in, first_party):
    """OIDC Core §5.5: members the server does not understand are ignored, not an error."""
    app, secret = first_party
    claims = {
        "id_token": {"email": {"essential": True, "purpose": "x"}, "unknown_claim": None},
        "userinfo": {},
        "future_member": {"x": 1},
    }
    id_token, _ = flow(signed_in, app, secret, claims=claims)
    assert id_token["email"] == "alice@example.com"
    assert "unknown_claim" not in id_token


@pytest.mark.spec("OIDC Discovery", "3")
def test_discovery_advertises_the_claims_parameter(http):
    """OIDC Discovery §3: claims_parameter_supported is true; claims_supported lists them."""
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["claims_parameter_supported"] is True
    assert PROFILE_AND_EMAIL <= set(metadata["claims_supported"])


# --- where claims go ------------------------------------------------------------------


@pytest.mark.spec("OIDC Core", "5.4")
def test_scope_claims_go_to_userinfo_not_into_the_id_token(signed_in, first_party, named_user):
    """OIDC Core §5.4: with an access token issued, profile and email claims are returned by
    userinfo; the ID token carries only sub and the protocol claims."""
    app, secret = first_party
    id_token, info = flow(signed_in, app, secret)
    assert set(id_token) <= PROTOCOL_CLAIMS, set(id_token) - PROTOCOL_CLAIMS
    assert info == {
        "sub": id_token["sub"],
        "name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "email_verified": True,
    }


@pytest.mark.spec("OIDC Core", "5.5")
@pytest.mark.parametrize("client", ["first_party", "confidential"])
def test_claims_requested_for_the_id_token_are_in_it(request, signed_in, client, named_user):
    """OIDC Core §5.5: claims named in claims.id_token (essential or voluntary, null or an
    object) are in the ID token; the others stay in userinfo only. Through the consent page
    too: the request is kept with the grant until the code is redeemed."""
    app, secret = request.getfixturevalue(client)
    claims = {"id_token": {"email": {"essential": True}, "given_name": None}}
    id_token, info = flow(signed_in, app, secret, claims=claims)
    assert id_token["email"] == "alice@example.com"
    assert id_token["given_name"] == "Alice"
    assert not {"family_name", "name", "email_verified", "preferred_username"} & set(id_token)
    assert PROFILE_AND_EMAIL <= set(info)


@pytest.mark.spec("OIDC Core", "5.5")
def test_claims_requested_for_userinfo_are_in_userinfo(signed_in, first_party):
    """OIDC Core §5.5: a claim requested for userinfo is returned there, and only there."""
    app, secret = first_party
    claims = {"userinfo": {"email": {"essential": True}, "email_verified": None}}
    id_token, info = flow(signed_in, app, secret, scope="openid email", claims=claims)
    assert info["email"] == "alice@example.com" and info["email_verified"] is True
    assert "email" not in id_token


@pytest.mark.spec("OIDC Core", "5.5.1")
def test_claims_outside_the_granted_scopes_are_never_released(signed_in, first_party):
    """OIDC Core §5.5.1: the claims parameter does not widen consent: a claim (even essential)
    whose scope was not granted is left out of both the ID token and userinfo, and that is not
    an error."""
    app, secret = first_party
    claims = {
        "id_token": {"email": {"essential": True}, "name": {"essential": True}},
        "userinfo": {"email": {"essential": True}, "given_name": None},
    }
    id_token, info = flow(signed_in, app, secret, scope="openid", claims=claims)
    assert set(info) == {"sub"}
    assert not PROFILE_AND_EMAIL & set(id_token)


@pytest.mark.spec("OIDC Core", "5.5")
def test_claims_request_applies_to_the_code_it_came_with_only(signed_in, first_party):
    """OIDC Core §5.5: the request is stored with the authorization code: a later code
    without a claims parameter gets an ID token without those claims."""
    app, secret = first_party
    first, _ = flow(signed_in, app, secret, claims={"id_token": {"email": None}})
    second, _ = flow(signed_in, app, secret)
    assert "email" in first and "email" not in second


@pytest.mark.spec("OIDC Core", "5.5.1.1")
def test_sub_requested_with_another_value_is_login_required(signed_in, first_party):
    """OIDC Core §5.5.1.1, §3.1.2.6: a sub value other than the signed-in user's → no code,
    error=login_required with state and iss (the server must not answer for another user)."""
    app, _ = first_party
    _, challenge = pkce_pair()
    other = "00000000-0000-0000-0000-000000000000"
    response = authorize(
        signed_in,
        app.client_id,
        challenge=challenge,
        claims=claims_param({"id_token": {"sub": {"value": other, "essential": True}}}),
    )
    query = redirect_query(response)
    assert query["error"] == "login_required"
    assert query["state"] == "s-123" and query["iss"] == authsite_settings.PUBLIC_URL
    assert not Grant.objects.exists()


@pytest.mark.spec("OIDC Core", "5.5.1.1")
def test_sub_requested_with_the_users_value_gets_a_code(signed_in, first_party, user):
    """OIDC Core §5.5.1.1: the signed-in user's own sub value is answered normally."""
    app, secret = first_party
    claims = {"id_token": {"sub": {"value": str(user.uuid)}}}
    id_token, _ = flow(signed_in, app, secret, scope="openid", claims=claims)
    assert id_token["sub"] == str(user.uuid)


# --- claims with no value -----------------------------------------------------------------


@pytest.mark.spec("OIDC Core", "5.3.2")
def test_claims_with_no_value_are_omitted(signed_in, first_party, user):
    """OIDC Core §5.1, §5.3.2: a user without a first or last name has no given_name or
    family_name in userinfo or the ID token (asked for there), never "" or null."""
    app, secret = first_party
    assert not user.first_name and not user.last_name
    claims = {"id_token": {"given_name": None, "family_name": None, "name": None}}
    id_token, info = flow(signed_in, app, secret, claims=claims)
    for document in (id_token, info):
        assert "given_name" not in document and "family_name" not in document
        assert all(value not in ("", None) for value in document.values()), document
    assert info["name"] == id_token["name"] == "alice"


@pytest.mark.spec("OIDC Core", "5.3.2")
def test_user_without_an_email_address_has_no_email_claims(signed_in, first_party, user):
    """OIDC Core §5.3.2: no e-mail address → neither email nor email_verified (which would
    describe nothing)."""
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(email="")
    app, secret = first_party
    code, verifier = code_for(signed_in, app, scope="openid email")
    tokens = exchange(signed_in, app, secret, code, verifier).json()
    info = userinfo(signed_in, tokens["access_token"]).json()
    assert "email" not in info and "email_verified" not in info
