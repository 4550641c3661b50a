"""`manage.py bootstrap`: idempotent admin, demo user and demo client."""

from __future__ import annotations

import io
import json
import re

import pytest

from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.models import User
from oauth.models import Application

pytestmark = pytest.mark.django_db


def bootstrap(*args) -> dict:
    out = io.StringIO()
    call_command("bootstrap", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_first_run_creates_and_shows_credentials_once(settings):
    settings.DEBUG = True
    first = bootstrap()
    assert first["admin"]["created"] and first["admin"]["password"]
    assert first["demo_user"]["password"] and first["demo_client"]["client_secret"]
    admin = authenticate(username="admin", password=first["admin"]["password"])
    assert admin is not None and admin.is_superuser and admin.is_staff
    demo = authenticate(username="demo", password=first["demo_user"]["password"])
    assert demo is not None and demo.email_verified and not demo.is_staff
    client = Application.objects.get(client_id=first["demo_client"]["client_id"])
    assert client.client_type == Application.CLIENT_CONFIDENTIAL
    assert first["demo_client"]["client_secret"] not in client.client_secret, "stored hashed"

    second = bootstrap()
    assert second["admin"] == {**first["admin"], "password": None, "created": False}
    assert second["demo_client"]["client_id"] == first["demo_client"]["client_id"]
    assert second["demo_client"]["client_secret"] is None
    assert User.objects.count() == 2 and Application.objects.count() == 1
    assert authenticate(username="admin", password=first["admin"]["password"]) is not None


def test_admin_email_and_password_from_options(settings):
    settings.DEBUG = True
    result = bootstrap("--admin-email", "root@corp.example", "--admin-password", "Given-Pass-123!")
    assert result["admin"]["email"] == "root@corp.example"
    assert authenticate(username="root@corp.example", password="Given-Pass-123!") is not None


def test_production_creates_no_demo_accounts(settings):
    """ASVS 6.3.2: no default accounts or demo clients outside development."""
    settings.DEBUG = False
    result = bootstrap()
    assert result["demo_user"] is None and result["demo_client"] is None
    assert User.objects.count() == 1 and not Application.objects.exists()


def test_text_output_names_the_admin_console(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    text = out.getvalue()
    assert "/admin/" in text and re.search(r"password: \S+", text)
    assert "shown only this once" in text
