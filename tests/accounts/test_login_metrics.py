"""Sign-in outcomes are counted in authsite_logins_total{outcome}."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def count(outcome: str) -> float:
    return REGISTRY.get_sample_value("authsite_logins_total", {"outcome": outcome}) or 0.0


def test_admin_sign_in_outcomes_are_counted(client, user, password):
    user.is_staff = True
    user.save()
    succeeded, failed = count("succeeded"), count("failed")
    client.post("/admin/login/", {"username": "alice", "password": "wrong password 123"})
    assert (count("succeeded"), count("failed")) == (succeeded, failed + 1)
    client.post("/admin/login/", {"username": "alice", "password": password})
    assert (count("succeeded"), count("failed")) == (succeeded + 1, failed + 1)
