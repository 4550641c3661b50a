"""The grant services against both stores: one contract, Django's ORM and the async pool.

Every test runs twice (the ``store`` fixture): with ``OrmGrantStore`` and with
``PostgresGrantStore``, on the real PostgreSQL test database, so the two can
never disagree on what a redemption, a rotation, a replay or a reuse leaves in
the tables and in the audit trail.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from django.db import connections
from django.utils import timezone

from audit.models import AuditEvent
from oauth import revocation, tokens
from oauth.exceptions import InvalidGrantError, InvalidScopeError, OAuthError
from oauth.fastpath.backends import Backends
from oauth.fastpath.http import Request
from oauth.grants import services
from oauth.grants.orm import OrmGrantStore
from oauth.grants.postgres import PostgresGrantStore
from oauth.models import AccessToken, Grant, RefreshToken
from tests.factories import REDIRECT_URI, UserFactory
from tests.support.oauth import make_client, pkce_pair

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

REQUEST = Request(
    method="POST",
    path="/oauth/token",
    query=b"",
    headers={"user-agent": "contract-test"},
    body=b"",
    client_ip="127.0.0.1",
    request_id="contract-test",
)


@pytest.fixture(params=["orm", "postgres"])
def store(request, postgres_url, redis_url):
    """``run(service, *args)``: the service on a fresh loop, with the store under test."""
    kind = request.param

    def run(function, *args):
        async def go():
            if kind == "orm":
                try:
                    return await function(OrmGrantStore(), *args)
                finally:  # the executor thread's connection, or the test database stays busy
                    await sync_to_async(connections.close_all)()
            backends = Backends()
            try:
                return await function(PostgresGrantStore(backends, REQUEST), *args)
            finally:
                await backends.close()

        return asyncio.run(go())

    run.kind = kind
    return run


@pytest.fixture
def web():
    return make_client(name="Web")


@pytest.fixture
def alice():
    return UserFactory(email="alice@example.com", username="alice")


def issue_code(app, user, *, scope="profile email", expires_in=60, challenge=None):
    verifier, computed = pkce_pair()
    code = secrets.token_urlsafe(32)
    Grant.objects.create(
        application=app,
        user=user,
        code=code,
        expires=timezone.now() + timedelta(seconds=expires_in),
        redirect_uri=REDIRECT_URI,
        scope=scope,
        code_challenge=computed if challenge is None else challenge,
        code_challenge_method="S256",
    )
    return code, verifier


def redeem(store, app, code, verifier, **extra):
    params = {"code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier, **extra}
    params = {name: value for name, value in params.items() if value is not None}
    return store(services.redeem_code, app, params, timezone.now())


def rotate(store, app, refresh_token, **extra):
    params = {"refresh_token": refresh_token, **extra}
    return store(services.rotate_refresh_token, app, params, timezone.now())


def live_access_tokens(**filters) -> int:
    return AccessToken.objects.filter(revoked__isnull=True, **filters).count()


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- authorization code ------------------------------------------------------------------


def test_a_code_is_exchanged_for_a_bound_pair_and_audited(store, web, alice):
    """RFC 6749 §4.1.3: one access token and one refresh token, bound to the code."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    issued = redeem(store, app, code, verifier)
    assert issued.scopes == ["profile", "email"]
    body = issued.response()
    assert list(body) == ["access_token", "expires_in", "token_type", "scope", "refresh_token"]
    access = AccessToken.objects.get(token_checksum=tokens.checksum(issued.access_token))
    assert (access.user, access.application, access.scope) == (alice, app, "profile email")
    assert access.grant_code_hash == tokens.checksum(code) and access.token == ""
    refresh_row = RefreshToken.objects.get(token_checksum=tokens.checksum(issued.refresh_token))
    assert refresh_row.access_token == access and refresh_row.token_family is not None
    assert refresh_row.grant_code_hash == tokens.checksum(code)
    assert refresh_row.family_started is not None
    assert Grant.objects.get(code=code).redeemed is not None
    event = AuditEvent.objects.get(action="oauth.token.issued")
    assert event.details == {
        "grant_type": "authorization_code",
        "scopes": ["profile", "email"],
        "client_id": app.client_id,
    }
    assert event.actor_id == str(alice.uuid) and event.target_id == app.client_id


def test_a_replayed_code_with_its_verifier_revokes_the_family(store, web, alice):
    """RFC 9700 §4.5 / OAuth 2.1 §4.1.3: a second redemption fails and revokes every token
    minted from the code, including those a refresh minted since."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    second = rotate(store, app, first.refresh_token)
    assert live_access_tokens(user=alice) == 1
    with pytest.raises(InvalidGrantError) as caught:
        redeem(store, app, code, verifier)
    assert (caught.value.error, caught.value.status) == ("invalid_grant", 400)
    assert live_access_tokens(user=alice) == 0
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    jti = AccessToken.objects.get(token_checksum=tokens.checksum(second.access_token)).jti
    assert revocation.is_denied(jti) is True
    replayed = AuditEvent.objects.get(action="oauth.code.replayed")
    assert replayed.outcome == "failure" and replayed.details["client_id"] == app.client_id


def test_a_replay_without_the_verifier_revokes_nothing(store, web, alice):
    """OAuth 2.1 §7.5.2: a leaked code alone must not let anyone revoke the victim's tokens."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    redeem(store, app, code, verifier)
    with pytest.raises(InvalidGrantError):
        redeem(store, app, code, "x" * 43)
    assert live_access_tokens(user=alice) == 1
    assert "oauth.code.replayed" not in actions()


@pytest.mark.parametrize(
    ("change", "error", "spent"),
    [
        ({"code_verifier": "wrong" * 10}, "invalid_grant", True),
        ({"code_verifier": None}, "invalid_request", True),
        ({"redirect_uri": "https://rp.example/other"}, "invalid_grant", True),
    ],
    ids=["wrong verifier", "missing verifier", "other redirect_uri"],
)
def test_a_failed_check_after_the_code_spends_it(store, web, alice, change, error, spent):
    """RFC 7636 §4.6, RFC 6749 §4.1.3: the error, and the code is burnt as DOT burns it
    (claimed before PKCE and the redirect URI are checked)."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    with pytest.raises(OAuthError) as caught:
        redeem(store, app, code, verifier, **change)
    assert caught.value.error == error
    assert (Grant.objects.get(code=code).redeemed is not None) is spent
    assert not AccessToken.objects.exists()
    with pytest.raises(InvalidGrantError):
        redeem(store, app, code, verifier)


def test_a_code_of_another_client_is_invalid_and_stays_unspent(store, web, alice):
    """RFC 6749 §4.1.3: the code is bound to the client it was issued to."""
    app, _secret = web
    other, _ = make_client(name="Other")
    code, verifier = issue_code(app, alice)
    with pytest.raises(InvalidGrantError):
        redeem(store, other, code, verifier)
    assert Grant.objects.get(code=code).redeemed is None
    assert redeem(store, app, code, verifier).access_token


def test_an_expired_code_is_invalid(store, web, alice):
    app, _secret = web
    code, verifier = issue_code(app, alice, expires_in=-1)
    with pytest.raises(InvalidGrantError):
        redeem(store, app, code, verifier)
    assert not AccessToken.objects.exists()


def test_two_parallel_redemptions_issue_once(store, web, alice):
    """OAuth 2.1 §4.1.3: the claim and the rows are one transaction; one redemption wins."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    params = {"code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}

    async def both(store_, client):
        now = timezone.now()
        return await asyncio.gather(
            services.redeem_code(store_, client, params, now),
            services.redeem_code(store_, client, params, now),
            return_exceptions=True,
        )

    results = store(both, app)
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert AccessToken.objects.count() == 1 and RefreshToken.objects.count() == 1


# --- refresh token -------------------------------------------------------------------------


def test_a_refresh_rotates_the_pair_in_its_family(store, web, alice):
    """RFC 6749 §6, RFC 9700 §4.14.2: a new pair; the old refresh and access tokens end."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    old = RefreshToken.objects.get(token_checksum=tokens.checksum(first.refresh_token))
    second = rotate(store, app, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.scopes == ["profile", "email"]
    new = RefreshToken.objects.get(token_checksum=tokens.checksum(second.refresh_token))
    old.refresh_from_db()
    assert old.revoked is not None and old.access_token is None
    assert new.token_family == old.token_family
    assert new.grant_code_hash == old.grant_code_hash == tokens.checksum(code)
    assert new.family_started == old.family_started
    first_access = AccessToken.objects.get(token_checksum=tokens.checksum(first.access_token))
    assert first_access.revoked is not None and revocation.is_denied(first_access.jti) is True
    second_access = new.access_token
    assert second_access.source_refresh_token_id == old.pk and second_access.grant_code_hash == ""
    assert actions()[-1] == "oauth.token.refreshed"


def test_a_reused_refresh_token_revokes_the_family(store, web, alice):
    """RFC 9700 §4.14.2: a rotated refresh token that comes back ends the whole family."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    second = rotate(store, app, first.refresh_token)
    with pytest.raises(InvalidGrantError):
        rotate(store, app, first.refresh_token)
    assert live_access_tokens(user=alice) == 0
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    with pytest.raises(InvalidGrantError):
        rotate(store, app, second.refresh_token)
    reused = AuditEvent.objects.filter(action="oauth.refresh_token.reused").first()
    assert reused is not None and reused.details["family_revoked"] is True


def test_a_refresh_may_narrow_the_scope_but_never_widen_it(store, web, alice):
    """RFC 6749 §6: the scope must not include any scope not originally granted."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    with pytest.raises(InvalidScopeError) as caught:
        rotate(store, app, first.refresh_token, scope="profile roles")
    assert (caught.value.error, caught.value.status) == ("invalid_scope", 400)
    narrowed = rotate(store, app, first.refresh_token, scope="email")
    assert narrowed.scopes == ["email"]


def test_a_refresh_token_of_another_client_is_invalid(store, web, alice):
    app, _secret = web
    other, _ = make_client(name="Other")
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    with pytest.raises(InvalidGrantError):
        rotate(store, other, first.refresh_token)
    assert rotate(store, app, first.refresh_token).access_token


@pytest.mark.parametrize("lifetime", ["idle", "absolute"])
def test_a_refresh_token_past_its_lifetime_is_invalid(store, web, alice, settings, lifetime):
    """authsite's idle and absolute refresh-token lifetimes (ASVS 7.3.1, 7.3.2)."""
    app, _secret = web
    code, verifier = issue_code(app, alice)
    first = redeem(store, app, code, verifier)
    long_ago = timezone.now() - timedelta(days=400)
    field = "created" if lifetime == "idle" else "family_started"
    RefreshToken.objects.filter(token_checksum=tokens.checksum(first.refresh_token)).update(
        **{field: long_ago}
    )
    with pytest.raises(InvalidGrantError):
        rotate(store, app, first.refresh_token)
    assert live_access_tokens(user=alice) == 1  # nothing revoked: the token simply ended


def test_an_unknown_refresh_token_is_invalid(store, web):
    app, _secret = web
    with pytest.raises(InvalidGrantError):
        rotate(store, app, "nope")
    assert not AuditEvent.objects.filter(action__startswith="oauth.token").exists()


def test_an_openid_code_gets_an_id_token_recorded_with_its_access_token(store, web, alice):
    """OIDC Core §3.1.3.3: an ID token in the response, its row bound to the access token."""
    app, _secret = web
    code, verifier = issue_code(app, alice, scope="openid email")
    issued = redeem(store, app, code, verifier)
    body = issued.response()
    assert list(body)[-1] == "id_token"
    access = AccessToken.objects.get(token_checksum=tokens.checksum(issued.access_token))
    assert access.id_token is not None and access.id_token.jti == issued.id_token_jti
    assert (access.id_token.user, access.id_token.scope) == (alice, "openid email")
    refreshed = rotate(store, app, issued.refresh_token)
    assert refreshed.id_token and refreshed.id_token_jti != issued.id_token_jti
