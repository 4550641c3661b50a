"""Signing keys: life cycle, the published JWKS, encryption at rest, and JWT verification."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from jwcrypto.common import base64url_encode
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWSCore

from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import post_migrate
from django.utils import timezone

from oauth import keys, tasks
from oauth.models import Application, SigningKey

pytestmark = pytest.mark.django_db

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(autouse=True)
def no_keys(settings):
    """Start from an empty key table: migrate's post_migrate receiver may have filled it."""
    settings.AUTHSITE_KEY_ENCRYPTION_SECRET = "test encryption secret"
    SigningKey.objects.all().delete()
    keys._memo.clear()
    cache.delete(keys.JWKS_CACHE_KEY)
    yield
    # The test's rows are rolled back; the cache and the memo are not.
    keys._memo.clear()
    cache.delete(keys.JWKS_CACHE_KEY)


def sign(claims=None, *, algorithm="RS256", key=None, payload=None, **header):
    """A compact JWS over any header and payload, without jwcrypto's header checks."""
    material = keys.get_signing_key(algorithm)
    header = {"typ": "at+jwt", "alg": algorithm, "kid": material.kid, **header}
    if payload is None:
        payload = json.dumps({"sub": "alice", "exp": int(time.time()) + 600, **(claims or {})})
    signed = JWSCore(
        header["alg"], key or material.jwk, json.dumps(header), payload.encode()
    ).sign()
    return f"{signed['protected']}.{signed['payload'].decode()}.{signed['signature']}"


def published_kids() -> set[str]:
    return {jwk["kid"] for jwk in keys.public_jwks()["keys"]}


def states(algorithm="RS256") -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key in SigningKey.objects.filter(algorithm=algorithm):
        result.setdefault(key.state, []).append(key.kid)
    return result


def test_ensure_creates_one_active_and_one_next_key_per_algorithm_and_is_idempotent():
    keys.ensure_signing_keys()
    first = set(SigningKey.objects.values_list("kid", flat=True))
    keys.ensure_signing_keys()

    assert set(SigningKey.objects.values_list("kid", flat=True)) == first
    for algorithm in keys.SUPPORTED_ALGORITHMS:
        assert {state: len(kids) for state, kids in states(algorithm).items()} == {
            "active": 1,
            "next": 1,
        }


def test_first_signing_key_request_creates_the_keys():
    material = keys.get_signing_key()

    assert material.algorithm == "RS256"
    assert states()["active"] == [material.kid]
    assert material.jwk.has_private


def test_migrate_creates_the_first_keys_through_post_migrate():
    config = apps.get_app_config("oauth")
    post_migrate.send(
        sender=config, app_config=config, verbosity=0, interactive=False, using="default"
    )

    assert SigningKey.objects.filter(state="active").count() == len(keys.SUPPORTED_ALGORITHMS)


def test_jwks_publishes_active_and_next_keys_with_public_members_only():
    keys.ensure_signing_keys()

    published = keys.public_jwks()["keys"]

    assert {jwk["kid"] for jwk in published} == set(
        SigningKey.objects.values_list("kid", flat=True)
    )
    for jwk in published:
        assert jwk["use"] == "sig"
        assert jwk["alg"] in keys.SUPPORTED_ALGORITHMS
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert JWK(**jwk).thumbprint() == jwk["kid"]  # kid is the RFC 7638 thumbprint
        if jwk["alg"] == "RS256":
            assert (jwk["kty"], jwk["e"]) == ("RSA", "AQAB")
            assert JWK(**jwk).get_op_key("verify").key_size == 2048
        else:
            assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")


def test_next_key_is_published_before_it_signs():
    keys.ensure_signing_keys()
    [next_kid] = states()["next"]

    assert next_kid in published_kids()
    assert keys.get_signing_key().kid == states()["active"][0] != next_kid


def test_token_signed_before_a_forced_rotation_still_verifies():
    token = sign()
    old_kid = keys.get_signing_key().kid
    [next_kid] = states()["next"]

    lines = keys.rotate_signing_keys(force=True)

    assert keys.get_signing_key().kid == next_kid
    assert states()["previous"] == [old_kid]
    assert old_kid in published_kids()
    assert keys.verify_jwt(token)["sub"] == "alice"
    assert any(line.startswith(f"RS256: activated {next_kid}") for line in lines)
    assert not any("private" in line or "{" in line for line in lines)


def test_previous_key_is_retired_once_every_token_it_signed_has_expired():
    token = sign()
    old_kid = keys.get_signing_key().kid
    rotated_at = timezone.now()
    keys.rotate_signing_keys(force=True, now=rotated_at)
    lifetime = keys.max_token_lifetime()

    keys.rotate_signing_keys(now=rotated_at + lifetime + timedelta(minutes=4))
    assert old_kid in published_kids()

    lines = keys.rotate_signing_keys(now=rotated_at + lifetime + timedelta(minutes=6))

    retired = SigningKey.objects.get(kid=old_kid)
    assert retired.state == "retired"
    assert retired.private_key_encrypted == ""
    assert old_kid not in published_kids()
    assert f"RS256: retired {old_kid}" in lines
    with pytest.raises(keys.InvalidJWT, match="unknown kid"):
        keys.verify_jwt(token, verify_exp=False)


def test_rotation_waits_until_the_active_key_is_due(settings):
    settings.AUTHSITE_SIGNING_KEY_ROTATION_DAYS = 30
    keys.ensure_signing_keys()
    active = keys.get_signing_key().kid

    assert keys.rotate_signing_keys(now=timezone.now() + timedelta(days=29)) == []
    assert keys.get_signing_key().kid == active

    lines = keys.rotate_signing_keys(now=timezone.now() + timedelta(days=31))

    assert [line.split(":")[0] for line in lines] == ["RS256", "ES256"]
    assert keys.get_signing_key().kid != active


def test_max_token_lifetime_covers_the_longest_client_lifetime(settings):
    settings.AUTHSITE_ACCESS_TOKEN_LIFETIME_SECONDS = 600
    settings.AUTHSITE_ID_TOKEN_LIFETIME_SECONDS = 900
    assert keys.max_token_lifetime() >= timedelta(seconds=900)

    Application.objects.create(
        name="long-lived",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        access_token_lifetime_seconds=10**6,
    )

    assert keys.max_token_lifetime() == timedelta(seconds=10**6)


def test_private_keys_are_stored_encrypted():
    keys.ensure_signing_keys()

    for algorithm in keys.SUPPORTED_ALGORITHMS:
        material = keys.get_signing_key(algorithm)
        stored = SigningKey.objects.get(kid=material.kid).private_key_encrypted
        pem = material.jwk.export_to_pem(private_key=True, password=None).decode()
        pem_body = "".join(pem.splitlines()[1:-1])

        assert stored
        assert material.jwk["d"] not in stored
        assert pem_body[:64] not in stored
        assert "PRIVATE" not in stored and '"d"' not in stored


def test_es256_tokens_sign_and_verify():
    material = keys.get_signing_key("ES256")
    token = sign(algorithm="ES256")

    assert material.jwk["kty"] == "EC"
    assert keys.verify_jwt(token, expected_typ="at+jwt")["sub"] == "alice"


def test_signing_key_is_memoised_without_queries(django_assert_num_queries):
    keys.ensure_signing_keys()
    first = keys.get_signing_key()

    with django_assert_num_queries(0):
        assert keys.get_signing_key() is first


def test_jwks_is_served_from_the_database_when_the_cache_fails(monkeypatch):
    keys.ensure_signing_keys()
    expected = published_kids()

    class BrokenCache:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = delete = get

    monkeypatch.setattr(keys, "cache", BrokenCache())

    assert published_kids() == expected
    keys.rotate_signing_keys(force=True)  # invalidation failing is not fatal either


def test_verify_jwt_accepts_our_token_and_typ_case_insensitively():
    token = sign(typ="AT+JWT")

    assert keys.verify_jwt(token, expected_typ="at+jwt")["sub"] == "alice"
    assert keys.verify_jwt(sign(typ="application/at+jwt"), expected_typ="at+jwt")


def _alg_none() -> str:
    kid = keys.get_signing_key().kid
    header = base64url_encode(json.dumps({"alg": "none", "kid": kid}))
    payload = base64url_encode(json.dumps({"sub": "mallory", "exp": int(time.time()) + 600}))
    return f"{header}.{payload}."


def _hs256_with_public_key() -> str:
    """The algorithm-confusion attack: HMAC keyed with our public key (RFC 8725 §2.1)."""
    pem = keys.get_signing_key().jwk.export_to_pem(private_key=False)
    return sign(alg="HS256", key=JWK(kty="oct", k=base64url_encode(pem)))


def _es256_kid_with_rs256_alg() -> str:
    es_kid = keys.get_signing_key("ES256").kid
    return sign(kid=es_kid)


def _tampered() -> str:
    header, _, signature = sign().split(".")
    payload = base64url_encode(json.dumps({"sub": "mallory", "exp": int(time.time()) + 600}))
    return f"{header}.{payload}.{signature}"


REJECTED = {
    "alg none": (_alg_none, "unsupported alg"),
    "HS256 keyed with the public key": (_hs256_with_public_key, "unsupported alg"),
    "alg not the key's": (_es256_kid_with_rs256_alg, "alg does not match"),
    "unknown kid": (lambda: sign(kid="not-our-key"), "unknown kid"),
    "missing kid": (lambda: sign(kid=None), "missing kid"),
    "jku header": (lambda: sign(jku="https://evil.example/jwks"), "jku"),
    "x5u header": (lambda: sign(x5u="https://evil.example/cert"), "x5u"),
    "embedded jwk": (lambda: sign(jwk={"kty": "oct", "k": "AA"}), "jwk"),
    "x5c header": (lambda: sign(x5c=["MIIB"]), "x5c"),
    "crit header": (lambda: sign(crit=["exp"]), "crit"),
    "tampered payload": (_tampered, "bad signature"),
    "expired": (lambda: sign({"exp": int(time.time()) - 1}), "expired"),
    "no exp": (lambda: sign(payload=json.dumps({"sub": "alice"})), "missing exp"),
    "claims not an object": (lambda: sign(payload="[1, 2]"), "not a JSON object"),
    "not a JWT": (lambda: "not-a-jwt", "malformed"),
    "JWE shaped": (lambda: "a.b.c.d.e", "malformed"),
    "header not JSON": (lambda: "bm90IGpzb24." + sign().split(".", 1)[1], "malformed"),
}


@pytest.mark.parametrize("make_token, reason", REJECTED.values(), ids=REJECTED.keys())
def test_verify_jwt_rejects(make_token, reason):
    token = make_token()

    with pytest.raises(keys.InvalidJWT, match=reason):
        keys.verify_jwt(token)


def test_verify_jwt_rejects_the_wrong_typ_and_is_a_value_error():
    token = sign(typ="JWT")

    with pytest.raises(ValueError, match="wrong typ"):
        keys.verify_jwt(token, expected_typ="at+jwt")
    with pytest.raises(keys.InvalidJWT, match="wrong typ"):
        keys.verify_jwt(sign(typ=None), expected_typ="at+jwt")


def test_expired_token_verifies_when_expiry_is_not_checked():
    token = sign({"exp": int(time.time()) - 1})

    assert keys.verify_jwt(token, verify_exp=False)["sub"] == "alice"


def test_rotatekeys_prints_nothing_to_rotate_when_nothing_is_due():
    keys.ensure_signing_keys()
    out = io.StringIO()

    call_command("rotatekeys", stdout=out)

    assert out.getvalue().strip() == "nothing to rotate"


def test_rotatekeys_force_promotes_the_next_key_of_one_algorithm():
    keys.ensure_signing_keys()
    [es_next] = states("ES256")["next"]
    rs_active = states("RS256")["active"]
    out = io.StringIO()

    call_command("rotatekeys", "--force", "--algorithm", "ES256", stdout=out)

    assert out.getvalue().startswith(f"ES256: activated {es_next}")
    assert "RS256" not in out.getvalue()
    assert states("ES256")["active"] == [es_next]
    assert states("RS256")["active"] == rs_active


def test_rotatekeys_rejects_an_unknown_algorithm():
    with pytest.raises(CommandError, match="Unknown algorithm 'HS256'"):
        call_command("rotatekeys", "--algorithm", "HS256")


def test_rotate_task_runs_the_rotation():
    keys.ensure_signing_keys()

    assert tasks.rotate_signing_keys.name == "oauth.rotate_signing_keys"
    assert tasks.rotate_signing_keys.apply().get() == []
