"""django-oauth-toolkit's models are swapped for authsite's from the first migration."""

from __future__ import annotations

import io

import pytest
from oauth2_provider import models as dot_models

from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from oauth import models


def test_every_dot_model_is_swapped_for_authsites():
    assert dot_models.get_application_model() is models.Application
    assert dot_models.get_access_token_model() is models.AccessToken
    assert dot_models.get_refresh_token_model() is models.RefreshToken
    assert dot_models.get_id_token_model() is models.IDToken
    assert dot_models.get_grant_model() is models.Grant


@pytest.mark.django_db
def test_oauth_tables_come_before_dots_own_migration():
    """DOT docs, models.E022: the swapped models must exist before oauth2_provider.0001."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = loader.graph.forwards_plan(("oauth2_provider", "0001_initial"))
    assert ("oauth", "0001_initial") in plan
    assert plan.index(("oauth", "0001_initial")) < plan.index(("oauth2_provider", "0001_initial"))


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_application_has_first_party_and_branding_fields():
    app = models.Application(name="x")
    assert app.first_party is False
    assert app.homepage_url == "" and app.logo_url == ""
