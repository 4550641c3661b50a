"""The audit trail's guarantees: nothing lost, append-only, tamper-evident, prunable."""

from __future__ import annotations

import json
import tracemalloc
import uuid
from datetime import timedelta

import pytest

from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import integrity
from audit.events import Action, Outcome
from audit.models import AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db


def some_events(count: int = 5) -> list[AuditEvent]:
    return [
        record(Action.LOGIN_FAILED, outcome=Outcome.FAILURE, target=("login", f"u{i}", f"u{i}"))
        for i in range(count)
    ]


def raw(sql: str, params=()) -> None:
    """Change the table behind the application's back, as an attacker with SQL access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # triggers off
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        cursor.execute(sql, params)


def test_an_untouched_trail_verifies(capsys):
    some_events()
    integrity.seal_events(grace_seconds=0)
    some_events(2)  # an unsealed tail is checked too
    call_command("audit", "verify")
    assert "audit trail intact: 7 events, 1 seals checked" in capsys.readouterr().out


def test_an_edited_row_is_reported():
    events = some_events()
    integrity.seal_events(grace_seconds=0)
    raw("UPDATE audit_auditevent SET actor_label = 'nobody' WHERE id = %s", [events[2].id])
    with pytest.raises(CommandError, match=f"altered: event {events[2].id} was altered"):
        call_command("audit", "verify")


def test_a_deleted_row_is_reported():
    events = some_events()
    integrity.seal_events(grace_seconds=0)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    with pytest.raises(CommandError, match=f"missing: event {events[1].id} is missing"):
        call_command("audit", "verify")


def test_a_forged_row_is_reported():
    some_events(3)
    integrity.seal_events(grace_seconds=0)
    forged = AuditEvent(
        occurred_at=timezone.now(),
        action=Action.LOGIN_SUCCEEDED,
        outcome=Outcome.SUCCESS,
        actor_type="user",
        actor_label="mallory",
        nonce=uuid.uuid4(),
        digest="0" * 64,  # without the HMAC key no valid digest can be made
    )
    forged.save()
    report = integrity.verify()
    assert report.problem.kind == "altered" and report.problem.event_id == forged.id


def test_a_row_moved_into_a_sealed_range_is_reported_as_inserted():
    events = some_events(3)
    integrity.seal_events(grace_seconds=0)
    genuine = record(Action.LOGOUT)  # a valid HMAC, but never part of the seal
    raw("UPDATE audit_auditevent SET id = %s WHERE id = %s", [events[0].id - 1, genuine.id])
    report = integrity.verify()
    assert report.problem.kind == "inserted" and report.problem.event_id == events[0].id - 1


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete():
    event = some_events(1)[0]
    for statement in (
        "UPDATE audit_auditevent SET outcome = 'success' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [event.id])
    assert AuditEvent.objects.get(pk=event.pk).outcome == Outcome.FAILURE


@pytest.mark.postgres
def test_the_event_and_the_change_it_describes_roll_back_together():
    """A failure after the change rolls back both (the event is in the same transaction)."""
    from accounts.models import User
    from accounts.services.users import ensure_user

    with pytest.raises(RuntimeError), transaction.atomic():
        ensure_user(email="rollback@example.com", username="rb", password="x" * 20)
        assert AuditEvent.objects.filter(action=Action.USER_CREATED).exists()
        raise RuntimeError("something failed after the change")
    assert not User.objects.filter(email="rollback@example.com").exists()
    assert not AuditEvent.objects.filter(action=Action.USER_CREATED).exists()


def test_details_never_keep_secrets():
    event = record(
        Action.TOKEN_ISSUED,
        details={
            "client_secret": "s3cr3t",
            "password": "hunter2hunter2",
            "nested": {"refresh_token": "abc"},
            "scope": "openid",
            "note": "Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
        },
    )
    stored = json.dumps(AuditEvent.objects.get(pk=event.pk).details)
    for secret in ("s3cr3t", "hunter2hunter2", "abc", "eyJzdWIiOi"):
        assert secret not in stored
    assert "openid" in stored


def test_unknown_actions_are_a_programming_error():
    with pytest.raises(ValueError, match="not in audit.events.Action"):
        record("auth.login.whatever")


def test_prune_exports_first_then_removes_and_the_rest_still_verifies(tmp_path, capsys):
    old = some_events(4)
    later = timezone.now() + timedelta(days=40)
    result = __import__("audit.retention", fromlist=["prune"]).prune(
        older_than_days=30, export_dir=tmp_path, now=later
    )
    assert result.removed == 4 and result.up_to_id == old[-1].id
    exported = [json.loads(line) for line in result.path.read_text().splitlines()]
    assert [row["id"] for row in exported] == [e.id for e in old]
    assert not AuditEvent.objects.filter(id__lte=old[-1].id).exists()
    # The prune is itself recorded, and new events chain on from the kept seal.
    assert AuditEvent.objects.filter(action=Action.AUDIT_PRUNED).count() == 1
    some_events(2)
    integrity.seal_events(grace_seconds=0)
    assert integrity.verify().ok


def test_export_streams_a_date_range_as_csv(tmp_path):
    some_events(3)
    out = tmp_path / "events.csv"
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    call_command("audit", "export", "--since", since, "--format", "csv", "-o", str(out))
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,occurred_at,action,outcome")
    assert len(lines) == 4


def test_export_rejects_a_bad_date():
    with pytest.raises(CommandError, match="is not a date"):
        call_command("audit", "export", "--since", "yesterday-ish")


@pytest.mark.postgres
def test_export_of_100k_events_runs_in_constant_memory(tmp_path):
    now = timezone.now()
    batch = []
    for i in range(100_000):
        event = AuditEvent(
            occurred_at=now,
            action=Action.TOKEN_ISSUED,
            outcome=Outcome.SUCCESS,
            actor_type="client",
            actor_id=f"client-{i % 50}",
            actor_label="bench",
            details={"grant_type": "client_credentials", "n": i},
            nonce=uuid.uuid4(),
        )
        event.digest = integrity.event_digest(event)
        batch.append(event)
    AuditEvent.objects.bulk_create(batch, batch_size=5000)
    del batch
    out = tmp_path / "all.jsonl"
    tracemalloc.start()
    call_command("audit", "export", "--format", "jsonl", "-o", str(out))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with out.open() as fh:
        assert sum(1 for _ in fh) == 100_000
    assert peak < 30 * 1024 * 1024, f"export peaked at {peak / 1e6:.1f} MB"
