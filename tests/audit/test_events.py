"""Each security event is recorded by driving the real feature, never by calling record()."""

from __future__ import annotations

import json

import pytest

from django.core.management import call_command

from audit.models import AuditEvent
from tests.support.oauth import (
    approve,
    authorize,
    code_from,
    exchange,
    pkce_pair,
    sign_in,
)

pytestmark = pytest.mark.django_db

SECRETS_NEVER_STORED = ("password", "client_secret")


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


def test_sign_in_success_failure_and_sign_out(http, user, password):
    page = http.get("/accounts/login/")
    assert page.status_code == 200
    http.post(
        "/accounts/login/",
        data={
            "username": "alice",
            "password": "wrong password here",
            "csrfmiddlewaretoken": page.cookies.get("csrftoken") or _token(page.text),
        },
        headers={"User-Agent": "pytest-browser/1.0", "X-Request-ID": "req-failed-1"},
    )
    failed = last("auth.login.failed")
    assert failed.outcome == "failure" and failed.target_label == "alice"
    assert failed.ip == "127.0.0.1" and failed.user_agent == "pytest-browser/1.0"
    assert failed.request_id == "req-failed-1"
    assert "wrong password here" not in json.dumps(failed.details)

    sign_in(http, "alice", password)
    succeeded = last("auth.login.succeeded")
    assert succeeded.actor_id == str(user.uuid) and succeeded.details["methods"] == ["pwd"]

    page = http.get("/accounts/logout/")
    http.post("/accounts/logout/", data={"csrfmiddlewaretoken": _token(page.text)})
    assert last("auth.logout").actor_id == str(user.uuid)


def _token(html: str) -> str:
    import re

    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_oauth_flow_events(signed_in, confidential, user):
    app, secret = confidential
    verifier, challenge = pkce_pair()
    code = code_from(approve(signed_in, authorize(signed_in, app.client_id, challenge=challenge)))
    tokens = exchange(signed_in, app, secret, code, verifier).json()
    refreshed = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client_id, secret),
    ).json()
    signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client_id, secret),
    )
    exchange(signed_in, app, secret, code, verifier)  # replay
    signed_in.post(
        "/oauth/revoke", data={"token": refreshed["access_token"]}, auth=(app.client_id, secret)
    )

    recorded = actions()
    for expected in (
        "oauth.consent.granted",
        "oauth.code.issued",
        "oauth.token.issued",
        "oauth.token.refreshed",
        "oauth.refresh_token.reused",
        "oauth.code.replayed",
        "oauth.token.revoked",
    ):
        assert expected in recorded, expected
    issued = last("oauth.token.issued")
    assert issued.details["grant_type"] == "authorization_code"
    assert issued.actor_id == str(user.uuid) and issued.target_id == app.client_id
    reused = last("oauth.refresh_token.reused")
    assert reused.outcome == "failure" and reused.target_id == str(user.uuid)
    everything = json.dumps(list(AuditEvent.objects.values("details", "target_label")))
    for value in (tokens["access_token"], tokens["refresh_token"], code, secret, verifier):
        assert value not in everything


def test_client_lifecycle_and_key_rotation_events(capsys):
    call_command(
        "createclient",
        "--name",
        "Audited",
        "--confidential",
        "--redirect-uri",
        "https://rp.test/cb",
        "--json",
    )
    client_id = json.loads(capsys.readouterr().out)["client_id"]
    created = last("oauth.client.created")
    assert created.target_id == client_id and created.actor_type == "system"
    from oauth.models import Application

    app = Application.objects.get(client_id=client_id)
    app.name = "Audited, renamed"
    app.save()
    assert last("oauth.client.changed").target_label == "Audited, renamed"
    app.delete()
    assert last("oauth.client.deleted").target_id == client_id

    call_command("rotatekeys", "--force")
    rotated = last("oauth.signing_key.rotated")
    assert rotated.details["forced"] is True and rotated.details["changes"]


def test_user_created_by_bootstrap_is_recorded(capsys):
    call_command("bootstrap", "--json", "--no-demo", "--admin-email", "root@example.com")
    created = last("user.created")
    assert created.target_label == "root@example.com"
    assert created.details == {"staff": True, "superuser": True}


def test_a_users_own_recent_events(http, user, password):
    from audit.services import recent_events_for_user

    sign_in(http, "alice", password)
    mine = list(recent_events_for_user(user))
    assert [e.action for e in mine][:1] == ["auth.login.succeeded"]
    assert all(str(user.uuid) in (e.actor_id, e.target_id) for e in mine)
