"""The admin's "delete selected" is audited, one event per deleted object, on every ModelAdmin.

Django (5.1+) writes the LogEntry rows of a multi-object delete with
``bulk_create``, which sends no ``post_save``: before, a bulk delete of users or
clients left no audit event at all, while deleting one object did.
"""

from __future__ import annotations

import pytest

from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client

from accounts.models import User
from audit.events import Action
from audit.models import AuditEvent
from audit.receivers import AuditedDeletionsMixin
from oauth.models import Application
from tests.support.oauth import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db, password):
    return User.objects.create_superuser(
        email="root@example.com", username="root", password=password
    )


@pytest.fixture
def console(root) -> Client:
    http = Client()
    http.force_login(root)
    return http


def deleted_events() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=Action.ADMIN_ACTION, details__flag="deleted").order_by(
            "id"
        )
    )


def delete_selected(console, changelist: str, pks: list) -> None:
    response = console.post(
        changelist, {"action": "delete_selected", "_selected_action": pks, "post": "yes"}
    )
    assert response.status_code == 302, response.content[:2000]


def test_deleting_three_users_records_three_events_with_their_labels(console, root):
    users = [
        User.objects.create_user(email=f"user{n}@example.com", username=f"user{n}")
        for n in range(3)
    ]

    delete_selected(console, "/admin/accounts/user/", [u.pk for u in users])

    assert not User.objects.filter(pk__in=[u.pk for u in users]).exists()
    events = deleted_events()
    assert sorted(e.target_label for e in events) == sorted(str(u) for u in users)
    assert {e.target_id for e in events} == {str(u.pk) for u in users}
    assert {e.target_type for e in events} == {"accounts.user"}
    assert {e.actor_label for e in events} == {"root@example.com"}
    # Exactly one event per LogEntry: none twice, none missing.
    assert LogEntry.objects.filter(action_flag=DELETION).count() == len(events) == 3


def test_deleting_clients_records_one_event_per_client(console):
    clients = [make_client(name=f"RP {n}")[0] for n in range(4)]

    delete_selected(console, "/admin/oauth/application/", [c.pk for c in clients])

    assert not Application.objects.filter(pk__in=[c.pk for c in clients]).exists()
    events = deleted_events()
    assert sorted(e.target_label for e in events) == sorted(c.name for c in clients)
    assert {e.target_type for e in events} == {"oauth.application"}


def test_deleting_one_object_is_still_recorded_once(console):
    [client] = [make_client(name="Single RP")[0]]

    delete_selected(console, "/admin/oauth/application/", [client.pk])

    [event] = deleted_events()
    assert event.target_label == "Single RP"


def test_every_registered_model_admin_audits_bulk_deletes():
    """Ours and third-party ones (DOT's), whatever registers them later."""
    unaudited = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedDeletionsMixin)
    ]
    assert unaudited == []
    assert Application in admin.site._registry and User in admin.site._registry
