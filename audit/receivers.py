"""Django's own records turned into audit events (audit imports no other authsite app)."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.events import Action
from audit.services import describe_target, record

ADMIN_FLAGS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit.record_admin_log_entry")
def record_admin_log_entry(sender, instance: LogEntry, created: bool, raw: bool = False, **kwargs):
    """Every add, change or delete made in the admin console is also an audit event.

    LogEntry rows can be edited or deleted by anyone with admin rights on
    them; the audit trail cannot. Runs in the admin's transaction, so the event
    commits or rolls back with the change. Django writes the entries of a
    multi-object "delete selected" with ``bulk_create``, which sends no
    ``post_save``: :class:`AuditedDeletionsMixin` records those.
    """
    if not created or raw or getattr(instance, "_authsite_audited", False):
        return
    instance._authsite_audited = True
    content_type = instance.content_type
    kind = f"{content_type.app_label}.{content_type.model}" if content_type else ""
    target = (kind, instance.object_id or "", instance.object_repr)
    if instance.action_flag != DELETION:
        try:
            edited = instance.get_edited_object() if content_type else None
        except Exception:  # gone, or a model without a default manager lookup by pk
            edited = None
        # The same (type, id) other events use, e.g. a user's public uuid.
        target = describe_target(edited) if edited is not None else target
    record(
        Action.ADMIN_ACTION,
        actor=instance.user,
        target=target,
        details={
            "flag": ADMIN_FLAGS.get(instance.action_flag, str(instance.action_flag)),
            "change_message": instance.get_change_message(),
        },
    )


@receiver(user_logged_out, dispatch_uid="audit.record_sign_out")
def record_sign_out(sender, request, user, **kwargs):
    """Signing out is Django's ``logout()`` (the hosted page, the account page and the
    admin all call it), so it is recorded here rather than by a service."""
    if user is not None:
        record(Action.LOGOUT, actor=user, target=user, request=request)


class AuditedDeletionsMixin:
    """A ModelAdmin whose "delete selected" is audited, one event per object.

    Since Django 5.1 ``log_deletions`` writes the LogEntry rows of a
    multi-object delete with ``bulk_create``, which sends no ``post_save``;
    each entry that did not go through :func:`record_admin_log_entry` is
    recorded here, with the object's label, before the objects are deleted and
    in the same transaction. The admin site mixes this into every ModelAdmin
    it registers (accounts/admin_site.py).
    """

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        for entry in entries or ():
            record_admin_log_entry(sender=LogEntry, instance=entry, created=True)
        return entries


def audited_admin_class(admin_class: type) -> type:
    """``admin_class`` with :class:`AuditedDeletionsMixin` mixed in (once)."""
    if issubclass(admin_class, AuditedDeletionsMixin):
        return admin_class
    return type(
        admin_class.__name__,
        (AuditedDeletionsMixin, admin_class),
        {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
    )
