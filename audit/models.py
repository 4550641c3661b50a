"""The append-only audit trail.

Every row carries an HMAC of its own content (``digest``), so an edited or
forged row is detected without any lock; rows are then sealed in order by
periodic signed digests (:class:`AuditSeal`), so a deleted or inserted row is
detected too. On PostgreSQL a trigger refuses UPDATE and DELETE on the table
unless the retention job has set ``authsite.audit_retention`` in its transaction.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.events import ActorType, Outcome

# What an event says, in one order: the HMAC, the exports and the archive all use it.
CONTENT_FIELDS = (
    "occurred_at",
    "action",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_label",
    "target_type",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "request_id",
    "details",
)


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(_("time (UTC)"), default=timezone.now, db_index=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome, db_index=True)
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType)
    actor_id = models.CharField(_("actor id"), max_length=128, blank=True, db_index=True)
    actor_label = models.CharField(_("actor"), max_length=255, blank=True)
    target_type = models.CharField(_("target type"), max_length=64, blank=True)
    target_id = models.CharField(_("target id"), max_length=128, blank=True, db_index=True)
    target_label = models.CharField(_("target"), max_length=255, blank=True)
    ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    request_id = models.CharField(_("request id"), max_length=128, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    # A random identity inside the HMAC: a copied row collides on it, an edited one fails the HMAC.
    nonce = models.UUIDField(_("nonce"), unique=True, editable=False)
    digest = models.CharField(_("digest"), max_length=64, editable=False)

    class Meta:
        verbose_name = _("audit event")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["actor_type", "actor_id", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"


class AuditSeal(models.Model):
    """A signed digest over every event with ``first_id <= id <= last_id``, chained to the last."""

    id = models.BigAutoField(primary_key=True)
    created = models.DateTimeField(_("sealed at"), default=timezone.now)
    first_id = models.BigIntegerField(_("first event id"))
    last_id = models.BigIntegerField(_("last event id"), unique=True)
    event_count = models.PositiveIntegerField(_("events"))
    id_runs = models.JSONField(
        _("event id runs"), help_text=_("[first, last] runs of the sealed ids (sequence gaps).")
    )
    previous_digest = models.CharField(_("previous seal digest"), max_length=64)
    digest = models.CharField(_("digest"), max_length=64)

    class Meta:
        verbose_name = _("audit seal")
        ordering = ["first_id"]

    def __str__(self) -> str:
        return f"seal {self.first_id}–{self.last_id} ({self.event_count})"
