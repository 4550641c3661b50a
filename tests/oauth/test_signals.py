"""The security events the audit trail will record are announced, without secrets."""

from __future__ import annotations

import pytest

from oauth import signals
from tests.support.oauth import approve, authorize, code_from, exchange, pkce_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    events = []

    def listener(signal):
        def receive(sender, **kwargs):
            events.append((signal, kwargs))

        return receive

    receivers = {
        name: listener(name)
        for name in (
            "token_issued",
            "token_revoked",
            "refresh_token_reused",
            "authorization_code_replayed",
            "consent_granted",
        )
    }
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver, weak=False)
    yield events
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_issue_consent_replay_reuse_and_revocation_are_announced(
    signed_in, confidential, user, heard
):
    app, secret = confidential
    verifier, challenge = pkce_pair()
    code = code_from(approve(signed_in, authorize(signed_in, app.client_id, challenge=challenge)))
    tokens = exchange(signed_in, app, secret, code, verifier).json()
    replay = exchange(signed_in, app, secret, code, verifier)
    assert replay.json()["error"] == "invalid_grant"

    names = [name for name, _ in heard]
    assert names == ["consent_granted", "token_issued", "authorization_code_replayed"]
    issued = heard[1][1]
    assert issued["client"] == app and issued["user"] == user
    assert issued["grant_type"] == "authorization_code"
    assert heard[2][1]["revoked"] == 1
    for _, kwargs in heard:
        assert not any(tokens["access_token"] in str(value) for value in kwargs.values())
        assert not any(code in str(value) for value in kwargs.values())

    revoked = signed_in.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=(app.client_id, secret)
    )
    assert revoked.status_code == 200
    assert heard[-1][0] == "token_revoked" and heard[-1][1]["token_type"] == "refresh_token"
    reuse = signed_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client_id, secret),
    )
    assert reuse.json()["error"] == "invalid_grant"
    assert heard[-1][0] == "refresh_token_reused" and heard[-1][1]["user"] == user
