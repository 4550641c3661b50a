"""Audit events written by the fast path, exactly as ``audit.services.record`` writes them.

The same actor and target descriptions, the same redaction of details, the same
HMAC (``audit.integrity.event_digest``) and the same request fields (address,
user agent, request id); only the INSERT is the fast path's own, so it can share
a statement (and a transaction) with the change it records.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from audit import integrity
from audit.events import Outcome
from audit.models import AuditEvent
from audit.redaction import clean_details
from audit.services import describe_actor, describe_target

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
    """One audit event as the values of :data:`COLUMNS`, its HMAC included."""
    actor_type, actor_id, actor_label = describe_actor(actor)
    target_type, target_id, target_label = describe_target(target)
    event = AuditEvent(
        occurred_at=datetime.now(UTC),
        action=action,
        outcome=outcome,
        actor_type=actor_type,
        actor_id=actor_id[:128],
        actor_label=actor_label[:255],
        target_type=target_type[:64],
        target_id=target_id[:128],
        target_label=target_label,
        ip=request.client_ip or None,
        user_agent=(request.header("user-agent") or "")[:512],
        request_id=request.request_id.strip("-"),
        details=clean_details(details),
        nonce=uuid.uuid4(),
    )
    event.digest = integrity.event_digest(event)
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
