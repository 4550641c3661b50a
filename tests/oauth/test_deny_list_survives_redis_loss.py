"""A revoked token never comes back when Redis loses the deny list (flush, restart, outage).

The deny list is trusted only while its epoch key says it is complete; without
it every reader falls back to the PostgreSQL row, until ``rebuild_deny_list``
(the periodic job ``oauth.restore_deny_list``) has written the list again.
Each test runs against a redis-server of its own, which it flushes and stops.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oauth import revocation, tasks
from oauth.models import AccessToken, jti_of
from tests.support.oauth import introspect, revoke, tokens_for, userinfo
from tests.support.own_redis import OwnRedis

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

ACCESS_TOKEN_TABLE = AccessToken._meta.db_table


@pytest.fixture
def own_redis(tmp_path, settings):
    """The server's cache on a redis-server this test may flush and stop."""
    server = OwnRedis(tmp_path).start()
    settings.CACHES = server.cache_settings()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def revoked(own_redis, signed_in, first_party, django_capture_on_commit_callbacks):
    """A user's access token, revoked through RFC 7009 while the deny list was complete."""
    app, secret = first_party
    access_token = tokens_for(signed_in, app, secret)["access_token"]
    revocation.rebuild_deny_list()  # what the periodic job did when the server started
    assert userinfo(signed_in, access_token).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke(signed_in, app, secret, access_token).status_code == 200
    assert revocation.is_denied(jti_of(access_token)) is True
    return app, secret, access_token


def row_reads(queries: CaptureQueriesContext) -> list[str]:
    """Reads of the access-token table (a refresh-token lookup only joins it)."""
    read = f'FROM "{ACCESS_TOKEN_TABLE}"'
    return [q["sql"] for q in queries.captured_queries if read in q["sql"]]


def refused(http, app, secret, access_token) -> tuple[bool, list[str]]:
    """(introspection says inactive and userinfo answers 401, the access-token row reads)."""
    with CaptureQueriesContext(connection) as queries:
        inactive = introspect(http, app, secret, access_token).json() == {"active": False}
        response = userinfo(http, access_token)
    return inactive and response.status_code == 401, row_reads(queries)


def test_a_revoked_token_stays_refused_after_a_flush_and_the_rebuild_answers_from_redis(
    own_redis, revoked, signed_in
):
    app, secret, access_token = revoked
    jti = jti_of(access_token)
    answered, reads = refused(signed_in, app, secret, access_token)
    assert answered and not reads, "with a complete deny list no row is read"

    own_redis.flushall()

    assert revocation.is_denied(jti) is None, "no epoch: the list cannot tell"
    answered, reads = refused(signed_in, app, secret, access_token)
    assert answered, "the row still says revoked"
    assert reads, "the answer came from the row"

    assert tasks.restore_deny_list() == "deny list rebuilt: 1 revoked tokens"
    assert tasks.restore_deny_list() == "", "nothing to do while the list is complete"

    assert revocation.is_denied(jti) is True
    answered, reads = refused(signed_in, app, secret, access_token)
    assert answered and not reads, "answered from Redis again"


def test_a_revoked_token_stays_refused_while_redis_is_down_and_after_it_restarts_empty(
    own_redis, revoked, signed_in
):
    app, secret, access_token = revoked

    own_redis.stop()
    assert revocation.is_denied(jti_of(access_token)) is None
    answered, reads = refused(signed_in, app, secret, access_token)
    assert answered and reads
    assert tasks.restore_deny_list() == "", "no rebuild while Redis is unreachable"

    own_redis.start()  # same port, no data
    answered, reads = refused(signed_in, app, secret, access_token)
    assert answered and reads


def test_a_token_revoked_while_redis_is_down_is_refused_when_redis_returns_with_its_data(
    own_redis, signed_in, first_party, settings, django_capture_on_commit_callbacks
):
    """The deny write fails; the epoch must not vouch for a list that misses this jti."""
    app, secret = first_party
    access_token = tokens_for(signed_in, app, secret)["access_token"]
    revocation.rebuild_deny_list()
    working = settings.CACHES

    settings.CACHES = own_redis.cache_settings(port=1)  # unreachable; the data stays
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke(signed_in, app, secret, access_token).status_code == 200
    settings.CACHES = working

    jti = jti_of(access_token)
    raw = own_redis.client().mget(revocation.deny_list_keys(jti))
    assert raw[1] is not None and revocation.interpret(raw) is None, "the epoch alone is not enough"
    assert revocation.is_denied(jti) is True, "the failed write is made once Redis answers"
    assert revocation.interpret(own_redis.client().mget(revocation.deny_list_keys(jti))) is True
    answered, _ = refused(signed_in, app, secret, access_token)
    assert answered


def test_a_live_token_is_not_denied_once_the_list_is_complete(own_redis, signed_in, first_party):
    """Not on the list and the list complete: False (a caller may skip the row)."""
    app, secret = first_party
    access_token = tokens_for(signed_in, app, secret)["access_token"]
    revocation.rebuild_deny_list()

    assert revocation.is_denied(jti_of(access_token)) is False
    assert introspect(signed_in, app, secret, access_token).json()["active"] is True


def test_the_raw_keys_and_interpret_agree_with_is_denied(own_redis):
    """What the async fast path does with its own client: MGET the keys, interpret the values."""
    denied, other = uuid.uuid4(), uuid.uuid4()
    client = own_redis.client()
    revocation.deny([(denied, timezone.now() + timedelta(minutes=5))])

    def both(jti):
        return revocation.interpret(client.mget(revocation.deny_list_keys(jti))), (
            revocation.is_denied(jti)
        )

    assert both(denied) == (True, True), "on the list: denied, epoch or not"
    assert both(other) == (None, None), "no epoch: cannot tell"
    revocation.rebuild_deny_list()
    assert both(denied) == (True, True)
    assert both(other) == (False, False), "complete list: not denied"


def test_a_flush_during_the_rebuild_leaves_the_list_marked_incomplete(
    own_redis, revoked, monkeypatch
):
    """Batches written before the flush are gone, so the epoch must not be written."""
    _, _, access_token = revoked
    own_redis.flushall()
    write = revocation._write

    def write_then_lose_everything(entries):
        write(entries)
        own_redis.flushall()

    monkeypatch.setattr(revocation, "_write", write_then_lose_everything)
    with pytest.raises(revocation.DenyListRebuildInterrupted):
        revocation.rebuild_deny_list(batch_size=1)

    assert revocation.deny_list_complete() is False
    assert revocation.is_denied(jti_of(access_token)) is None
