"""Expired codes and tokens are deleted in short batches, live ones and their links stay.

oauth/cleanup.py replaces DOT's ``clear_expired`` (which recounts the
expired set per batch and, with per-client refresh lifetimes, never reached
refresh tokens). Seeded with tens of thousands of expired rows on real
PostgreSQL: only what no check would accept any more goes, and no batch's
transaction lasts anywhere near a second.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from oauth import cleanup
from oauth.models import AccessToken, Grant, IDToken, RefreshToken
from tests.factories import AccessTokenFactory, ApplicationFactory, RefreshTokenFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXPIRED_EACH = 12_500  # x 4 kinds: 50,000 expired rows
DAY = timedelta(days=1)


def clone(template, count: int, **values) -> None:
    """Insert ``count`` copies of ``template`` in one statement, unique columns made unique
    and ``values`` (column -> Python value) set on every copy."""
    model = type(template)
    table = connection.ops.quote_name(model._meta.db_table)
    columns, expressions, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in values:
            expressions.append("%s")
            params.append(values[f.column])
        elif f.unique and f.is_relation:
            expressions.append("NULL")
        elif f.unique and f.get_internal_type() == "UUIDField":
            expressions.append("gen_random_uuid()")
        elif f.unique or f.column in ("token", "token_checksum"):
            expressions.append("md5(random()::text || g.i::text)")
        else:
            expressions.append(connection.ops.quote_name(f.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(expressions)} "
            f"FROM {table}, generate_series(1, %s) AS g(i) WHERE id = %s",
            [*params, count, template.pk],
        )


@pytest.fixture
def seeded(db):
    now = timezone.now()
    refresh = RefreshTokenFactory()
    access, user, app = refresh.access_token, refresh.user, refresh.application
    id_token = IDToken.objects.create(user=user, application=app, expires=now + DAY, scope="openid")
    grant = Grant.objects.create(
        user=user,
        application=app,
        code="template-code",
        expires=now + DAY,
        redirect_uri="https://rp.example/cb",
        scope="openid",
    )
    old = now - 200 * DAY  # past the 90-day absolute and 14-day idle refresh lifetimes
    clone(access, EXPIRED_EACH, expires=now - DAY)
    clone(refresh, EXPIRED_EACH, created=old, family_started=old)
    clone(id_token, EXPIRED_EACH, expires=now - DAY)
    clone(grant, EXPIRED_EACH, expires=now - DAY)
    live = {AccessToken: 1000, RefreshToken: 1000, IDToken: 1000, Grant: 1000}
    clone(access, live[AccessToken], expires=now + DAY)
    clone(refresh, live[RefreshToken], created=now, family_started=now)
    clone(id_token, live[IDToken], expires=now + DAY)
    clone(grant, live[Grant], expires=now + DAY)

    # Links that must hold: a live refresh token keeps its expired access token; a live
    # access token keeps its expired ID token; one minted from an expired refresh token
    # stays, unlinked; a short per-client idle lifetime is honoured.
    access.expires = now - DAY
    access.save(update_fields=["expires"])
    expired_id = IDToken.objects.create(
        user=user, application=app, expires=now - DAY, scope="openid"
    )
    holder = AccessTokenFactory(user=user, application=app, id_token=expired_id)
    dead_family = RefreshTokenFactory(user=user, application=app)
    RefreshToken.objects.filter(pk=dead_family.pk).update(created=old, family_started=old)
    minted = AccessTokenFactory(user=user, application=app, source_refresh_token=dead_family)
    short = ApplicationFactory(refresh_token_idle_lifetime_seconds=60)
    idle = RefreshTokenFactory(user=user, application=short)
    RefreshToken.objects.filter(pk=idle.pk).update(created=now - timedelta(minutes=2))
    return {
        "access": access,
        "refresh": refresh,
        "holder": holder,
        "expired_id": expired_id,
        "dead_family": dead_family,
        "minted": minted,
        "idle": idle,
        "counts": {
            model: model.objects.count() for model in (AccessToken, RefreshToken, IDToken, Grant)
        },
    }


def test_only_expired_rows_go_in_batches_each_well_under_a_second(seeded):
    before = seeded["counts"]
    report = cleanup.clear_expired_tokens(batch_size=1000)

    # 12,500 expired of each kind, plus the refresh family that died and the idle one.
    assert report.deleted == {
        "refresh_tokens": EXPIRED_EACH + 2,
        # the idle and dead-family refresh tokens' access tokens expire in an hour: kept
        "access_tokens": EXPIRED_EACH,
        "id_tokens": EXPIRED_EACH,
        "grants": EXPIRED_EACH,
    }
    assert RefreshToken.objects.count() == before[RefreshToken] - EXPIRED_EACH - 2
    assert AccessToken.objects.count() == before[AccessToken] - EXPIRED_EACH
    assert IDToken.objects.count() == before[IDToken] - EXPIRED_EACH
    assert Grant.objects.count() == before[Grant] - EXPIRED_EACH
    assert not RefreshToken.objects.filter(pk__in=[seeded["dead_family"].pk, seeded["idle"].pk])
    # The live refresh token and the expired access token it holds.
    assert RefreshToken.objects.filter(pk=seeded["refresh"].pk).exists()
    assert AccessToken.objects.filter(pk=seeded["access"].pk).exists()
    # The live access token and its expired ID token.
    seeded["holder"].refresh_from_db()
    assert seeded["holder"].id_token_id == seeded["expired_id"].pk
    # The live access token minted from the dead refresh token stays, unlinked.
    seeded["minted"].refresh_from_db()
    assert seeded["minted"].source_refresh_token_id is None

    assert report.skipped_batches == 0
    assert report.batches >= 4 * EXPIRED_EACH // 1000
    assert report.longest_batch_seconds < 1.0, report

    # A second run finds nothing more.
    again = cleanup.clear_expired_tokens(batch_size=1000)
    assert set(again.deleted.values()) == {0}


def test_the_command_and_the_task_run_the_batched_clean_up(seeded, capsys):
    call_command("cleartokensbatched", "--batch-size", "5000")
    out = capsys.readouterr().out
    assert f"{EXPIRED_EACH} grants" in out
    assert Grant.objects.count() == seeded["counts"][Grant] - EXPIRED_EACH
    from oauth.tasks import clear_expired_tokens

    clear_expired_tokens()
    # The one expired access token left is the one a live refresh token holds.
    expired = AccessToken.objects.filter(expires__lt=timezone.now())
    assert list(expired.values_list("pk", flat=True)) == [seeded["access"].pk]
