"""The audit trail in the admin console: browse, filter, search, export, and never change.

Events are set up with ``audit.services.record``; what is tested here is the
console, not the features that record events (tests/audit/test_events.py).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from asgiref.sync import async_to_sync

from django.contrib.auth.models import AnonymousUser, Group
from django.forms.models import model_to_dict
from django.test import AsyncClient, Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit import export, integrity
from audit.admin import BoundedCountPaginator
from audit.events import Action, ActorType, Outcome
from audit.models import AuditEvent, AuditSeal
from audit.services import record

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:audit_auditevent_changelist"
LONG_AGO = timedelta(days=40)


@pytest.fixture
def admin(db, password):
    from accounts.models import User

    return User.objects.create_superuser(
        email="root@example.com", username="root", password=password
    )


@pytest.fixture
def console(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def from_address(ip: str, *, request_id: str = "", user_agent: str = "pytest/1.0"):
    request = RequestFactory().get("/", HTTP_USER_AGENT=user_agent)
    request.client_ip = ip
    request.request_id = request_id
    return request


@pytest.fixture
def events(console, user) -> SimpleNamespace:
    """One event of each actor type, and one from 40 days ago.

    Signing in (``console``) records an event of its own, before these.
    """
    client_app = SimpleNamespace(
        client_id="billing-app", client_type="confidential", name="Billing"
    )
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - LONG_AGO):
        old = record(Action.SIGNING_KEY_ROTATED, details={"kid": "k-2025"})
    failed = record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=AnonymousUser(),
        target=("login", "mallory", "mallory"),
        details={"reason": "bad_credentials", "attempt": {"path": "/accounts/login/", "n": 3}},
        request=from_address("203.0.113.7", request_id="req-failed-7"),
    )
    signed_in = record(
        Action.LOGIN_SUCCEEDED,
        actor=user,
        target=user,
        details={"methods": ["pwd"]},
        request=from_address("2001:db8::1"),
    )
    token = record(Action.TOKEN_ISSUED, actor=client_app, target=user, details={"scope": "openid"})
    return SimpleNamespace(old=old, failed=failed, signed_in=signed_in, token=token)


def listed(console, events, query: str = "") -> list[int]:
    """The ids the list shows, of the ``events`` fixture's events."""
    mine = {e.id for e in vars(events).values()}
    response = console.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200, response
    return [event.id for event in response.context["cl"].result_list if event.id in mine]


def as_row(event: AuditEvent) -> dict:
    event.refresh_from_db()
    return model_to_dict(event) | {"nonce": event.nonce, "digest": event.digest}


# --- the list -------------------------------------------------------------------------


def test_the_list_shows_every_event_newest_first_with_its_columns(console, events):
    assert listed(console, events) == [
        events.token.id,
        events.signed_in.id,
        events.failed.id,
        events.old.id,
    ]
    response = console.get(reverse(CHANGELIST))
    page = response.content.decode()
    for text in ("sign-in failed", "failure", "mallory", "203.0.113.7", "alice", "Billing"):
        assert text in page
    assert events.failed.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?action=auth.login.failed", ["failed"]),
        ("?action=oauth.token.issued", ["token"]),
        ("?outcome__exact=failure", ["failed"]),
        ("?outcome__exact=success", ["token", "signed_in", "old"]),
        ("?actor_type__exact=client", ["token"]),
        ("?actor_type__exact=user", ["signed_in"]),
        ("?actor_type__exact=anonymous", ["failed"]),
        ("?actor_type__exact=system", ["old"]),
        ("?action=auth.login.failed&outcome__exact=success", []),
    ],
)
def test_each_filter_narrows_the_list(console, events, query, expected):
    assert listed(console, events, query) == [getattr(events, name).id for name in expected]


def test_the_action_filter_offers_the_whole_catalogue_by_label(console, events):
    response = console.get(reverse(CHANGELIST))
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "action")
    displays = [choice["display"] for choice in spec.choices(response.context["cl"])]
    assert displays[1:] == [label for _, label in Action.choices]


def test_a_date_range_in_the_query_string_narrows_the_list(console, events):
    old_day = events.old.occurred_at.astimezone(UTC).date()
    day_after = old_day + timedelta(days=1)
    only_old = f"?occurred_at__gte={old_day}&occurred_at__lt={day_after}"
    assert listed(console, events, only_old) == [events.old.id]

    since = (events.failed.occurred_at - timedelta(seconds=1)).astimezone(UTC)
    recent = "?occurred_at__gte=" + since.strftime("%Y-%m-%dT%H:%M:%S")  # naive: UTC
    assert listed(console, events, recent) == [
        events.token.id,
        events.signed_in.id,
        events.failed.id,
    ]
    assert listed(console, events, f"?occurred_at__lt={old_day}") == []


def test_a_custom_date_range_is_shown_as_the_selected_choice(console, events):
    response = console.get(reverse(CHANGELIST) + "?occurred_at__gte=2020-01-01")
    changelist = response.context["cl"]
    spec = next(s for s in changelist.filter_specs if s.title == "time (UTC)")
    selected = [c["display"] for c in spec.choices(changelist) if c["selected"]]
    assert selected == ["From 2020-01-01 until …"]


def test_the_past_7_days_preset_leaves_out_older_events(console, events):
    today = timezone.now().astimezone(UTC).date()
    query = f"?occurred_at__gte={today - timedelta(days=7)}&occurred_at__lt={today + timedelta(1)}"
    response = console.get(reverse(CHANGELIST) + query)
    changelist = response.context["cl"]
    assert events.old.id not in [e.id for e in changelist.result_list]
    spec = next(s for s in changelist.filter_specs if s.title == "time (UTC)")
    assert [c["display"] for c in spec.choices(changelist) if c["selected"]] == ["Past 7 days"]


def test_a_malformed_date_is_refused_without_an_error_page(console, events):
    response = console.get(reverse(CHANGELIST) + "?occurred_at__gte=last-tuesday")
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_search_matches_actor_and_target_labels_action_and_request_id(console, events):
    assert listed(console, events, "?q=alice") == [events.token.id, events.signed_in.id]
    assert listed(console, events, "?q=mallory") == [events.failed.id]
    assert listed(console, events, "?q=auth.login") == [events.signed_in.id, events.failed.id]
    assert listed(console, events, "?q=req-failed-7") == [events.failed.id]


@pytest.mark.postgres
def test_search_by_ip_address_matches_the_address_exactly(console, events):
    """The ip column is inet on PostgreSQL: an address is compared as one, not as text."""
    assert listed(console, events, "?q=203.0.113.7") == [events.failed.id]
    assert listed(console, events, "?q=2001:DB8:0::1") == [events.signed_in.id]
    assert listed(console, events, "?q=203.0.113.70") == []
    assert listed(console, events, "?q=203.0.113") == []  # a partial address is not an address


def test_the_count_is_bounded_and_the_admin_says_when_the_list_stops(console, events):
    with mock.patch.object(BoundedCountPaginator, "limit", 2):
        response = console.get(reverse(CHANGELIST))
    changelist = response.context["cl"]
    assert changelist.result_count == 2
    assert changelist.full_result_count is None
    notices = [str(m) for m in response.context["messages"]]
    assert notices == [
        "More than 2 events match: the list stops at the newest 2. "
        "Narrow the filters, or select all and export to get every match."
    ]


# --- the detail page ------------------------------------------------------------------


def test_the_detail_page_shows_every_field_and_the_details_as_indented_json(console, events):
    event = events.failed
    response = console.get(reverse("admin:audit_auditevent_change", args=[event.id]))
    assert response.status_code == 200
    page = response.content.decode()
    pretty = json.dumps(event.details, indent=2, sort_keys=True)
    assert f'<pre class="audit-details">{escape(pretty)}</pre>' in page
    for value in (
        "auth.login.failed",
        "anonymous",
        "mallory",
        "203.0.113.7",
        "pytest/1.0",
        "req-failed-7",
        str(event.nonce),
        event.digest,
    ):
        assert escape(value) in page, value
    assert 'alt="True"' in page, "the row's own HMAC verifies"
    assert 'name="_save"' not in page


# --- read-only, superusers included ---------------------------------------------------


def test_a_superuser_is_offered_no_add_and_no_delete(console, events):
    response = console.get(reverse(CHANGELIST))
    assert reverse("admin:audit_auditevent_add") not in response.content.decode()
    choices = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"export_jsonl", "export_csv"} <= set(choices)
    assert console.get(reverse("admin:audit_auditevent_add")).status_code == 403


def test_a_superuser_post_to_the_change_page_changes_nothing(console, events):
    event = events.failed
    before = as_row(event)
    response = console.post(
        reverse("admin:audit_auditevent_change", args=[event.id]),
        {k: v for k, v in before.items() if v is not None}
        | {"actor_label": "someone else", "details": "{}", "_save": "Save"},
    )
    assert response.status_code == 403
    assert as_row(event) == before


def test_a_superuser_cannot_delete_an_event_one_by_one_or_in_bulk(console, events):
    event = events.failed
    before = as_row(event)
    delete_url = reverse("admin:audit_auditevent_delete", args=[event.id])
    assert console.get(delete_url).status_code == 403
    assert console.post(delete_url, {"post": "yes"}).status_code == 403
    bulk = console.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [event.id], "index": 0, "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert as_row(event) == before
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_seals_are_listed_and_cannot_be_changed_or_deleted(console, events):
    seal = integrity.seal_events(grace_seconds=0)
    sealed = AuditEvent.objects.count()
    response = console.get(reverse("admin:audit_auditseal_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [seal]
    assert reverse("admin:audit_auditseal_add") not in response.content.decode()
    detail = console.get(reverse("admin:audit_auditseal_change", args=[seal.id]))
    assert detail.status_code == 200 and seal.digest in detail.content.decode()
    delete_url = reverse("admin:audit_auditseal_delete", args=[seal.id])
    assert console.post(delete_url, {"post": "yes"}).status_code == 403
    change_url = reverse("admin:audit_auditseal_change", args=[seal.id])
    assert console.post(change_url, {"event_count": 0}).status_code == 403
    seal.refresh_from_db()
    assert seal.event_count == sealed and AuditSeal.objects.count() == 1


def test_a_staff_user_without_the_view_permission_sees_nothing(db, events):
    from accounts.models import User

    staff = User.objects.create_user(
        email="staff@example.com", username="staff", password="x" * 20, is_staff=True
    )
    client = Client()
    client.force_login(staff)
    assert client.get(reverse(CHANGELIST)).status_code == 403


# --- export ---------------------------------------------------------------------------


def run_export(console, action: str, selected: list[int], query: str = "", **extra):
    response = console.post(
        reverse(CHANGELIST) + query,
        {"action": action, "_selected_action": selected, "index": 0, **extra},
    )
    assert response.status_code == 200
    assert response.streaming, "an export is streamed, never built in memory"
    assert "no-store" in response["Cache-Control"], "the admin never lets an export be cached"
    return response, b"".join(response.streaming_content).decode()


def test_export_as_json_lines_has_one_object_per_selected_event(console, events):
    selected = [events.failed.id, events.token.id]
    response, body = run_export(console, "export_jsonl", selected)
    assert response["Content-Type"].startswith("application/jsonl")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["action"] for row in rows] == ["auth.login.failed", "oauth.token.issued"]
    failed = rows[0]
    assert list(failed) == list(export.COLUMNS)
    assert failed["occurred_at"] == events.failed.occurred_at.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    assert datetime.fromisoformat(failed["occurred_at"]).tzinfo == UTC
    assert failed["ip"] == "203.0.113.7" and failed["request_id"] == "req-failed-7"
    assert failed["details"] == events.failed.details
    assert rows[1]["actor_type"] == ActorType.CLIENT and rows[1]["actor_id"] == "billing-app"


def test_export_as_csv_has_a_header_and_one_row_per_selected_event(console, events):
    response, body = run_export(console, "export_csv", [events.signed_in.id, events.old.id])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(body))
    assert tuple(reader.fieldnames) == export.COLUMNS
    rows = list(reader)
    assert [row["action"] for row in rows] == ["oauth.signing_key.rotated", "auth.login.succeeded"]
    assert rows[0]["ip"] == "" and rows[1]["ip"] == "2001:db8::1"
    assert json.loads(rows[1]["details"]) == {"methods": ["pwd"]}


def test_csv_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(console, db):
    event = record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        target=("login", "=HYPERLINK(1)", "=HYPERLINK(1)"),
    )
    _, body = run_export(console, "export_csv", [event.id])
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["target_label"] == "'=HYPERLINK(1)"
    _, body = run_export(console, "export_jsonl", [event.id])
    assert json.loads(body)["target_label"] == "=HYPERLINK(1)", "JSON Lines stays exact"


def test_select_all_exports_every_event_the_filters_match_and_the_export_is_recorded(
    console, events, admin
):
    with mock.patch.object(BoundedCountPaginator, "limit", 1):
        _, body = run_export(
            console, "export_jsonl", [events.token.id], "?q=alice", select_across=1
        )
    exported = [json.loads(line)["action"] for line in body.splitlines()]
    assert exported == ["auth.login.succeeded", "oauth.token.issued"]
    recorded = AuditEvent.objects.get(action=Action.ADMIN_ACTION)
    assert recorded.actor_id == str(admin.uuid)
    assert recorded.details["flag"] == "exported" and recorded.details["format"] == "jsonl"
    assert recorded.details["selected"] == "all matching"
    assert recorded.details["filters"] == "q=alice"


def test_export_under_asgi_streams_asynchronously(admin, events):
    """Django reads a synchronous iterator whole before serving it under ASGI."""
    client = AsyncClient()
    client.force_login(admin)
    response = async_to_sync(client.post)(
        reverse(CHANGELIST),
        {"action": "export_jsonl", "_selected_action": [events.failed.id], "index": 0},
    )
    assert response.status_code == 200 and response.is_async

    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    rows = [json.loads(line) for line in async_to_sync(read)().decode().splitlines()]
    assert [row["target_label"] for row in rows] == ["mallory"]


# --- Django admin's own log -----------------------------------------------------------


def admin_form_data(response) -> dict:
    """The POST a browser would send for an unchanged admin form."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else value
    return data


def test_changing_a_user_in_the_admin_records_an_admin_action_by_the_admin(console, admin, user):
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = admin_form_data(console.get(url)) | {"first_name": "Alicia", "_save": "Save"}
    response = console.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(action=Action.ADMIN_ACTION)
    assert (event.actor_type, event.actor_id) == (ActorType.USER, str(admin.uuid))
    # The same (type, id) as every other event about this user, so one search finds all.
    assert (event.target_type, event.target_id) == ("user", str(user.uuid))
    assert event.target_label == user.get_username()
    assert event.details["flag"] == "changed"
    assert "first name" in event.details["change_message"].lower()
    assert event.request_id, "the admin request's id is on the event"


def test_adding_and_deleting_in_the_admin_are_recorded_with_their_flag(console, admin):
    added = console.post(reverse("admin:auth_group_add"), {"name": "auditors", "_save": "Save"})
    assert added.status_code == 302
    group = Group.objects.get(name="auditors")
    deleted = console.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    events = AuditEvent.objects.filter(action=Action.ADMIN_ACTION).order_by("id")
    assert [(e.details["flag"], e.target_type, e.target_label) for e in events] == [
        ("added", "auth.group", "auditors"),
        ("deleted", "auth.group", "auditors"),
    ]
    assert {e.actor_id for e in events} == {str(admin.uuid)}
