"""oauth/claims.py and oauth.errors.safe_description: pure functions, tested directly."""

from __future__ import annotations

import re

import pytest

from oauth import claims
from oauth.errors import safe_description

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user):
    user.first_name = "Alice"
    return user


def test_released_claims_follow_the_granted_scopes(alice):
    """OIDC Core §5.4: profile releases the name claims, email the e-mail ones, openid none."""
    assert claims.released(alice, ["openid"]) == {}
    assert claims.released(alice, ["openid", "profile"]) == {
        "name": "Alice",
        "given_name": "Alice",
        "preferred_username": "alice",
    }
    assert claims.released(alice, ["email"]) == {
        "email": "alice@example.com",
        "email_verified": True,
    }
    assert claims.released(alice, ["roles"]) == {"roles": []}


def test_released_claims_leave_out_empty_values(user):
    """OIDC Core §5.3.2: no "" and no null; no email_verified without an email."""
    user.email = ""
    released = claims.released(user, ["profile", "email"])
    assert "given_name" not in released and "family_name" not in released
    assert "email" not in released and "email_verified" not in released
    assert all(value not in ("", None) for value in released.values())


def test_for_id_token_keeps_only_requested_released_claims():
    """OIDC Core §5.5: claims.id_token selects among released claims; nothing else."""
    released = {"email": "a@b", "name": "A"}
    request = {"id_token": {"email": None, "family_name": {"essential": True}}}
    assert claims.for_id_token(released, request) == {"email": "a@b"}
    assert claims.for_id_token(released, None) == {}
    assert claims.for_id_token(released, {"id_token": ["email"]}) == {}


def test_requested_subject():
    assert claims.requested_subject({"id_token": {"sub": {"value": "u1"}}}) == "u1"
    assert claims.requested_subject({"userinfo": {"sub": {"value": "u1"}}}) is None
    assert claims.requested_subject({"id_token": {"sub": None}}) is None


@pytest.mark.parametrize(
    "raw",
    [
        '{"id_token": {"email": {"essential": true}}, "userinfo": {"name": null}}',
        '{"id_token": {"acr": {"values": ["1", "2"]}}, "other": [1]}',
        '{"userinfo": {"sub": {"value": "x", "purpose": "why"}}}',
        "{}",
    ],
)
def test_parse_claims_request_accepts_claims_requests(raw):
    assert isinstance(claims.parse_claims_request(raw), dict)


@pytest.mark.parametrize(
    "raw",
    ["", "{", "null", "[]", '{"id_token": 1}', '{"userinfo": {"a": []}}', "[" * 100000],
)
def test_parse_claims_request_refuses_anything_else(raw):
    with pytest.raises(claims.ClaimsRequestError):
        claims.parse_claims_request(raw)


ALLOWED = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('Unsupported "plain"; use "S256".', "Unsupported 'plain'; use 'S256'."),
        ("a\\b", "a/b"),
        ("caf\u00e9 \u00fcber", "cafe uber"),
        ("line\nbreak\ttab\x00nul\x7fdel", "line break tabnuldel"),
        ("\u2028\u00a0 spaced  out ", "spaced out"),
        ("\U0001f600", ""),
    ],
)
def test_safe_description_keeps_to_the_rfc_6749_characters(text, expected):
    """RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    assert safe_description(text) == expected
    assert ALLOWED.fullmatch(safe_description(text))
    assert safe_description(safe_description(text)) == safe_description(text)


def test_a_person_from_plain_values_releases_what_the_user_does(alice):
    """One rule for Django's userinfo and the fast path's: a Person built from a row's
    values releases exactly what the same user releases."""
    from django.contrib.auth.models import Group

    alice.save()
    alice.groups.add(Group.objects.create(name="b"), Group.objects.create(name="a"))
    scopes = ["openid", "profile", "email", "roles"]
    from_values = claims.Person(
        public_id=str(alice.uuid),
        username=alice.username,
        email=alice.email,
        email_verified=alice.email_verified,
        first_name=alice.first_name,
        last_name=alice.last_name,
        roles=("b", "a"),
    )
    assert claims.userinfo(from_values, scopes) == claims.userinfo(
        claims.person(alice, scopes), scopes
    )
    assert claims.userinfo(from_values, scopes)["roles"] == ["a", "b"]
    assert claims.userinfo(from_values, scopes)["sub"] == claims.subject(alice)


def test_name_falls_back_to_the_username_then_the_email():
    """The ``name`` of someone with no first or last name is what the console shows."""
    who = claims.Person("id", None, "x@example.com", False, "", "")
    assert claims.release(who, ["profile"]) == {
        "name": "x@example.com",
        "preferred_username": "x@example.com",
    }
    named = claims.Person("id", "x", "x@example.com", False, "", "")
    assert claims.release(named, ["profile"])["name"] == "x"
