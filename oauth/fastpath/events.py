"""Audit events written by the fast path, exactly as ``audit.services.record`` writes them.

The same actor and target descriptions, the same redaction of details, the same
HMAC (``audit.integrity.event_digest``) and the same request fields (address,
user agent, request id); only the INSERT is the fast path's own, so it can share
a statement (and a transaction) with the change it records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from audit.events import Outcome
from audit.services import new_event

# The columns of ``event_row``, in its order.
COLUMNS = (
    "occurred_at, action, outcome, actor_type, actor_id, actor_label, target_type, "
    "target_id, target_label, ip, user_agent, request_id, details, nonce, digest"
)
# One row's placeholders, with the casts the columns need.
PLACEHOLDERS = (
    "%s::timestamptz, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s, %s::jsonb, %s::uuid, %s"
)


def event_row(
    action: str, actor, target, details: dict, request, *, outcome: str = Outcome.SUCCESS
) -> tuple:
    """One audit event (``audit.services.new_event``) as the values of :data:`COLUMNS`."""
    event = new_event(
        action,
        outcome=outcome,
        actor=actor,
        target=target,
        details=details,
        occurred_at=datetime.now(UTC),
        ip=request.client_ip,
        user_agent=request.header("user-agent") or "",
        request_id=request.request_id,
    )
    return (
        event.occurred_at,
        str(event.action),
        str(event.outcome),
        str(event.actor_type),
        event.actor_id,
        event.actor_label,
        event.target_type,
        event.target_id,
        event.target_label,
        event.ip,
        event.user_agent,
        event.request_id,
        json.dumps(event.details),
        event.nonce,
        event.digest,
    )
