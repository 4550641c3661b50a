"""The audit trail in the admin console: browse, filter, search and export; never change.

The trail may hold millions of rows, so every page view does bounded work:
no full count (:class:`BoundedCountPaginator`), no facet counts, no
``date_hierarchy`` (its year list is a scan of the whole table), filters whose
choices come from the catalogue rather than ``SELECT DISTINCT``, and sorting
only by time, which is indexed. Exports stream in constant memory.
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta

from asgiref.sync import sync_to_async

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.contrib.auth import get_permission_codename
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit import export, integrity
from audit.events import Action
from audit.models import CONTENT_FIELDS, AuditEvent, AuditSeal
from audit.services import record

ACTION_LABELS = dict(Action.choices)
STREAM_BATCH_LINES = 500


class BoundedCountPaginator(Paginator):
    """Counts at most ``limit`` rows, so a page view never counts the whole trail.

    Past the limit the list stops at ``limit`` rows (newest first) and the
    admin says so; filters narrow it, and "select all" exports every match.
    """

    limit = 10_000

    @cached_property
    def matched(self) -> int:
        """Matching rows, counted up to ``limit + 1`` (a LIMIT inside the COUNT)."""
        return self.object_list[: self.limit + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.matched, self.limit)

    @property
    def capped(self) -> bool:
        return self.matched > self.limit


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date or date-time from a query string; naive values are UTC."""
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise IncorrectLookupParameters(f"{value!r} is not a date or an ISO 8601 date-time")
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


class OccurredAtFilter(admin.DateFieldListFilter):
    """Preset days (UTC), or any range: ``?occurred_at__gte=2026-01-01&occurred_at__lt=2026-02-01``.

    Each bound is a date (midnight UTC) or an ISO 8601 date-time, and either
    may be left out. Bad input sends the admin to its "invalid lookup" page,
    never a 500.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        today = timezone.now().astimezone(UTC).date()
        tomorrow = today + timedelta(days=1)
        since, until = self.lookup_kwarg_since, self.lookup_kwarg_until
        self.links = (
            (_("Any date"), {}),
            (_("Today"), {since: today, until: tomorrow}),
            (_("Past 7 days"), {since: today - timedelta(days=7), until: tomorrow}),
            (_("Past 30 days"), {since: today - timedelta(days=30), until: tomorrow}),
            (_("This year"), {since: today.replace(month=1, day=1), until: tomorrow}),
        )

    def queryset(self, request, queryset):
        bounds = {
            name: [parse_moment(value) for value in values]
            for name, values in self.used_parameters.items()
        }
        return queryset.filter(build_q_object_from_lookup_parameters(bounds))

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        yield from choices
        if self.date_params and not any(choice["selected"] for choice in choices):
            since = self.date_params.get(self.lookup_kwarg_since, "…")
            until = self.date_params.get(self.lookup_kwarg_until, "…")
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": _("From %(since)s until %(until)s") % {"since": since, "until": until},
            }


class ActionFilter(admin.SimpleListFilter):
    """The catalogue's actions by label; no ``SELECT DISTINCT`` over the trail."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return Action.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action=self.value())
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable with the view permission; nobody adds, changes or deletes, superusers included.

    The database refuses UPDATE and DELETE anyway (audit migration 0002); this
    keeps the console from offering them.
    """

    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    view_on_site = False

    def has_view_permission(self, request, obj=None):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("when", "action_label", "outcome", "actor_label", "target_label", "ip")
    list_filter = (
        ActionFilter,
        "outcome",
        "actor_type",
        ("occurred_at", OccurredAtFilter),
    )
    search_fields = ("actor_label", "target_label", "action", "=request_id")
    search_help_text = _(
        "Actor or target label, action name, an exact request id, or an exact IP address."
    )
    sortable_by = ("when",)
    paginator = BoundedCountPaginator
    actions = ("export_jsonl", "export_csv")
    fieldsets = (
        (None, {"fields": ("id", "occurred_at", "action_display", "outcome")}),
        (_("Actor"), {"fields": ("actor_type", "actor_id", "actor_label")}),
        (_("Target"), {"fields": ("target_type", "target_id", "target_label")}),
        (_("Request"), {"fields": ("ip", "user_agent", "request_id")}),
        (_("Details"), {"fields": ("details_json",)}),
        (_("Integrity"), {"fields": ("nonce", "digest", "digest_verifies")}),
    )
    # Every field the HMAC covers, in its order; two are shown through a display method.
    readonly_fields = (
        "id",
        *(
            {"action": "action_display", "details": "details_json"}.get(name, name)
            for name in CONTENT_FIELDS
        ),
        "nonce",
        "digest",
        "digest_verifies",
    )

    @admin.display(description=_("time (UTC)"), ordering="occurred_at")
    def when(self, event: AuditEvent) -> str:
        return event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description=_("action"))
    def action_label(self, event: AuditEvent) -> str:
        return ACTION_LABELS.get(event.action, event.action)

    @admin.display(description=_("action"))
    def action_display(self, event: AuditEvent):
        return format_html("{} (<code>{}</code>)", self.action_label(event), event.action)

    @admin.display(description=_("details"))
    def details_json(self, event: AuditEvent):
        pretty = json.dumps(event.details, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="audit-details">{}</pre>', pretty)

    @admin.display(description=_("content HMAC verifies"), boolean=True)
    def digest_verifies(self, event: AuditEvent) -> bool:
        # Only this row's own HMAC: missing or inserted rows need `manage.py audit verify`.
        return hmac.compare_digest(integrity.event_digest(event), event.digest)

    def get_search_results(self, request, queryset, search_term):
        """An IP address matches ``ip`` exactly (an indexable equality, on inet too)."""
        term = search_term.strip()
        try:
            address = ipaddress.ip_address(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(ip=str(address)), False

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        paginator = changelist.paginator
        if getattr(paginator, "capped", False):
            messages.info(
                request,
                _(
                    "More than %(limit)s events match: the list stops at the newest "
                    "%(limit)s. Narrow the filters, or select all and export to get every match."
                )
                % {"limit": number_format(paginator.limit, force_grouping=True)},
            )
        return changelist

    @admin.action(description=_("Export selected as JSON Lines"), permissions=["view"])
    def export_jsonl(self, request, queryset):
        return self.stream_export(request, queryset, "jsonl")

    @admin.action(description=_("Export selected as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        return self.stream_export(request, queryset, "csv")

    def stream_export(self, request, queryset, file_format: str) -> StreamingHttpResponse:
        """Stream the selected events; reading the trail out is itself recorded."""
        select_across = request.POST.get("select_across") == "1"
        record(
            Action.ADMIN_ACTION,
            actor=request.user,
            target=("audit.auditevent", "", "audit events"),
            request=request,
            details={
                "flag": "exported",
                "format": file_format,
                "selected": "all matching"
                if select_across
                else len(request.POST.getlist(ACTION_CHECKBOX_NAME)),
                "filters": request.GET.urlencode()[:500],
            },
        )
        if file_format == "csv":
            lines, content_type = export.iter_csv(queryset), "text/csv; charset=utf-8"
        else:
            lines, content_type = export.iter_jsonl(queryset), "application/jsonl; charset=utf-8"
        response = StreamingHttpResponse(stream(request, lines), content_type=content_type)
        stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{file_format}"'
        return response


def stream(request, lines: Iterator[str]) -> Iterator[str] | AsyncIterator[str]:
    """``lines`` in the shape the server consumes without buffering it whole.

    Django serves a synchronous iterator under ASGI (and an asynchronous one
    under WSGI) by first reading all of it into a list, so under ASGI the
    lines are handed over in batches, each pulled in the request's thread.
    """
    if isinstance(request, ASGIRequest):
        return batches(lines)
    return lines


async def batches(lines: Iterator[str]) -> AsyncIterator[str]:
    take = sync_to_async(
        lambda: "".join(itertools.islice(lines, STREAM_BATCH_LINES)), thread_sensitive=True
    )
    try:
        while chunk := await take():
            yield chunk
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ("first_id", "last_id", "event_count", "created")
    sortable_by = ()
    fields = (
        "id",
        "created",
        "first_id",
        "last_id",
        "event_count",
        "id_runs",
        "previous_digest",
        "digest",
    )
    readonly_fields = fields
