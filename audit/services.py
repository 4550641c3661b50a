"""Recording security events: the one entry point every app calls.

``record`` writes with the caller's database connection: inside a transaction
the event commits or rolls back with the change it describes; outside one
(a failed sign-in) it is committed before the response is sent. It takes no
lock and costs one INSERT plus an HMAC.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.utils import timezone

from audit import integrity
from audit.events import Action, ActorType, Outcome
from audit.exceptions import UnknownActionError
from audit.models import AuditEvent
from audit.redaction import clean_details
from common import metrics
from common.logging import current_request_var, request_id_var
from common.net import client_ip

KNOWN_ACTIONS = frozenset(Action.values)


def describe_actor(actor) -> tuple[str, str, str]:
    """(type, id, label) of a user, an OAuth client, or the system."""
    if actor is None:
        return ActorType.SYSTEM, "", "system"
    if hasattr(actor, "client_id") and hasattr(actor, "client_type"):
        return ActorType.CLIENT, actor.client_id, actor.name or actor.client_id
    if getattr(actor, "is_anonymous", False):
        return ActorType.ANONYMOUS, "", "anonymous"
    if hasattr(actor, "get_username"):
        public_id = getattr(actor, "uuid", None) or actor.pk
        return ActorType.USER, str(public_id), actor.get_username()
    return ActorType.SYSTEM, "", str(actor)[:255]


def describe_target(target) -> tuple[str, str, str]:
    """(type, id, label) of a model instance or an explicit (type, id, label) tuple."""
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        kind, ident, label = target
        return str(kind), str(ident), str(label)[:255]
    if hasattr(target, "client_id") and hasattr(target, "client_type"):
        return "oauth.client", target.client_id, target.name or target.client_id
    if hasattr(target, "get_username"):
        return "user", str(getattr(target, "uuid", None) or target.pk), target.get_username()
    meta = getattr(target, "_meta", None)
    kind = meta.label_lower if meta is not None else type(target).__name__
    return kind, str(getattr(target, "pk", "")), str(target)[:255]


def new_event(
    action: str,
    *,
    outcome: str,
    actor,
    target,
    details: dict,
    occurred_at,
    ip: str | None,
    user_agent: str,
    request_id: str,
) -> AuditEvent:
    """One event, described, redacted, truncated to its columns and sealed (its HMAC), not
    yet saved: :func:`record` saves it; the fast path writes it in its own statement."""
    actor_type, actor_id, actor_label = describe_actor(actor)
    target_type, target_id, target_label = describe_target(target)
    event = AuditEvent(
        occurred_at=occurred_at,
        action=action,
        outcome=outcome,
        actor_type=actor_type,
        actor_id=actor_id[:128],
        actor_label=actor_label[:255],
        target_type=target_type[:64],
        target_id=target_id[:128],
        target_label=target_label,
        ip=ip or None,
        user_agent=user_agent[:512],
        request_id=request_id.strip("-"),
        details=clean_details(details),
        nonce=uuid.uuid4(),
    )
    # Round-trip the JSON as the database will return it, so the HMAC verifies later.
    event.digest = integrity.event_digest(event)
    return event


def record(
    action: str,
    *,
    outcome: str = Outcome.SUCCESS,
    actor=None,
    target=None,
    details: dict | None = None,
    request=None,
) -> AuditEvent:
    """Record one event. ``actor`` defaults to the signed-in user of the current request.

    ``details`` must describe, never authenticate: keys that look like
    secrets are redacted here anyway.
    """
    if action not in KNOWN_ACTIONS:
        raise UnknownActionError(f"{action!r} is not in audit.events.Action")
    request = request if request is not None else current_request_var.get()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    event = new_event(
        action,
        outcome=outcome,
        actor=actor,
        target=target,
        details=details or {},
        occurred_at=timezone.now(),
        ip=client_ip(request),
        user_agent=(request.headers.get("User-Agent", "") if request is not None else ""),
        request_id=getattr(request, "request_id", None) or request_id_var.get(),
    )
    event.save(force_insert=True)
    metrics.audit_events_total.labels(action, outcome).inc()
    return event


def recent_events_for_user(user, *, limit: int = 20):
    """The newest events where ``user`` acted or was acted upon (the account page shows them)."""
    public_id = str(getattr(user, "uuid", None) or user.pk)
    return AuditEvent.objects.filter(
        Q(actor_type="user", actor_id=public_id) | Q(target_type="user", target_id=public_id)
    ).order_by("-occurred_at", "-id")[:limit]
