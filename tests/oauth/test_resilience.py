"""Redis is an accelerator, PostgreSQL the truth; the RFC 9700 deploy check."""

from __future__ import annotations

import pytest

from tests.support.oauth import tokens_for
from tests.support.own_redis import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db


@pytest.mark.redis
def test_revocation_holds_when_redis_is_down_and_after_it_returns(signed_in, first_party, settings):
    """A revoked token is never accepted: the database answers when the deny list cannot."""
    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret, scope="openid")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    redis_caches = settings.CACHES

    settings.CACHES = UNREACHABLE_REDIS
    assert signed_in.get("/oauth/userinfo", headers=bearer).status_code == 200
    revoked = signed_in.post(
        "/oauth/revoke", data={"token": tokens["access_token"]}, auth=(app.client_id, secret)
    )
    assert revoked.status_code == 200
    introspection = signed_in.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, auth=(app.client_id, secret)
    )
    assert introspection.status_code == 200 and introspection.json() == {"active": False}
    assert signed_in.get("/oauth/userinfo", headers=bearer).status_code == 401

    settings.CACHES = redis_caches
    introspection = signed_in.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, auth=(app.client_id, secret)
    )
    assert introspection.json() == {"active": False}
    assert signed_in.get("/oauth/userinfo", headers=bearer).status_code == 401


@pytest.mark.redis
def test_revocation_reaches_the_shared_deny_list(
    signed_in, first_party, django_capture_on_commit_callbacks
):
    """The jti goes on the Redis deny list every instance reads, until the token's exp."""
    from django.core.cache import cache

    from oauth.models import AccessToken
    from oauth.revocation import DENY_LIST_PREFIX

    app, secret = first_party
    tokens = tokens_for(signed_in, app, secret, scope="openid")
    row = AccessToken.objects.get(token_checksum__isnull=False, application=app)
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(
            "/oauth/revoke", data={"token": tokens["access_token"]}, auth=(app.client_id, secret)
        )
    key = f"{DENY_LIST_PREFIX}{row.jti}"
    assert cache.get(key) == 1
    ttl = cache.ttl(key)
    assert 0 < ttl <= 600 + 60


def test_deploy_check_fails_when_an_rfc9700_switch_is_turned_off(settings):
    from authsite.checks import check_oauth_security_posture

    assert check_oauth_security_posture(None) == []
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_REUSE_PROTECTION": False}
    errors = check_oauth_security_posture(None)
    assert [e.id for e in errors] == ["authsite.E005"]
    assert "REFRESH_TOKEN_REUSE_PROTECTION" in errors[0].msg
