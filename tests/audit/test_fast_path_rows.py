"""Audit rows the fast path writes in its own statement verify like any other.

The fast path (oauth/fastpath/events.py) builds its rows with
``audit.services.new_event`` and INSERTs them itself, sharing a statement with
the token it records. ``audit verify`` must accept them exactly as it accepts
``record()``'s, with the same redaction and the same column limits, or every
fast-path issuance would look like tampering.
"""

from __future__ import annotations

import pytest

from django.db import connection

from audit import integrity
from audit.events import Action
from audit.models import AuditEvent
from oauth.fastpath import events

pytestmark = pytest.mark.postgres


class Request:
    """What event_row reads from a fast-path request."""

    client_ip = "198.51.100.7"
    request_id = "-3f2a-"

    def header(self, name: str) -> str | None:
        return {"user-agent": "agent/" + "x" * 600}.get(name)


def test_a_fast_path_row_verifies_and_reads_back_as_record_would_write_it(db):
    details = {"client_id": "bench", "client_secret": "s3cret", "scope": "read"}
    row = events.event_row(
        Action.TOKEN_ISSUED, None, ("oauth.client", "bench", "Bench"), details, Request()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} ({events.COLUMNS}) "  # noqa: S608
            f"VALUES ({events.PLACEHOLDERS})",
            row,
        )
    event = AuditEvent.objects.get(action=Action.TOKEN_ISSUED)
    assert integrity.verify().ok
    assert event.details["client_secret"] != "s3cret"  # redacted as record() would
    assert len(event.user_agent) == 512
    assert event.request_id == "3f2a"
    assert str(event.ip) == "198.51.100.7"
    assert event.target_id == "bench"

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET target_id = 'other' WHERE id = %s",  # noqa: S608
            [event.pk],
        )
    report = integrity.verify()
    assert not report.ok and report.problem.kind == "altered"
