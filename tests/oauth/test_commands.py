"""``manage.py createclient`` and ``manage.py revoketokens``."""

from __future__ import annotations

import io
import json

import pytest

from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError

from oauth.models import AccessToken, Application, RefreshToken
from oauth.services import register_client
from tests.factories import RefreshTokenFactory

pytestmark = pytest.mark.django_db


def run(name, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def createclient_json(*args) -> dict:
    return json.loads(run("createclient", "--json", *args))


def issue_tokens(user, application) -> tuple[AccessToken, RefreshToken]:
    return RefreshTokenFactory(user=user, application=application).pair


@pytest.fixture
def client_app():
    app, _ = register_client(name="RP", public=False, redirect_uris=["https://rp.test/cb"])
    return app


def test_createclient_confidential_prints_json_and_stores_the_secret_hashed():
    result = createclient_json(
        "--name", "Billing", "--confidential",
        "--redirect-uri", "https://rp.test/cb", "--redirect-uri", "https://rp.test/cb2",
        "--post-logout-redirect-uri", "https://rp.test/",
        "--grant", "authorization_code", "--grant", "refresh_token",
        "--scope", "openid", "--scope", "email",
    )  # fmt: skip
    app = Application.objects.get(client_id=result["client_id"])
    assert result["name"] == app.name == "Billing"
    assert result["client_type"] == "confidential"
    assert result["redirect_uris"] == ["https://rp.test/cb", "https://rp.test/cb2"]
    assert app.redirect_uris.split() == result["redirect_uris"]
    assert app.post_logout_redirect_uris == "https://rp.test/"
    assert result["grant_types"] == ["authorization_code", "refresh_token"]
    assert app.oauth_grant_types() == {"authorization_code", "refresh_token"}
    assert app.allowed_scopes == "openid email"
    assert result["client_secret"] not in app.client_secret
    assert check_password(result["client_secret"], app.client_secret)


def test_createclient_text_output_shows_the_secret_once():
    out = run("createclient", "--name", "Svc", "--confidential", "--grant", "client_credentials")
    app = Application.objects.get()
    assert app.client_id in out
    assert "cannot be shown again" in out
    secret = out.split("client_secret:")[1].split()[0]
    assert check_password(secret, app.client_secret)


def test_createclient_public_client_has_null_secret():
    result = createclient_json(
        "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:8080/cb", "--first-party"
    )
    assert result["client_secret"] is None and result["client_type"] == "public"
    app = Application.objects.get(client_id=result["client_id"])
    assert app.token_endpoint_auth_method == "none" and app.first_party


def test_createclient_requires_public_or_confidential():
    with pytest.raises(CommandError, match="--public --confidential"):
        run("createclient", "--name", "X", "--redirect-uri", "https://rp.test/cb")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("createclient", "--name", "X", "--public", "--confidential")
    assert not Application.objects.exists()


def test_createclient_bad_redirect_uri_is_a_command_error():
    with pytest.raises(CommandError, match="(?i)redirect") as exc:
        run(
            "createclient", "--name", "X", "--confidential", "--redirect-uri", "javascript:alert(1)"
        )
    assert "never allowed" in str(exc.value)
    assert not Application.objects.exists()


def test_createclient_authorization_code_needs_a_redirect_uri():
    with pytest.raises(CommandError, match="--redirect-uri"):
        run("createclient", "--name", "X", "--confidential")


def test_createclient_public_client_credentials_is_a_command_error():
    with pytest.raises(CommandError, match="public client cannot use client_credentials"):
        run("createclient", "--name", "X", "--public", "--grant", "client_credentials")


def test_revoketokens_by_user_revokes_only_that_users_tokens(user, client_app):
    access, refresh = issue_tokens(user, client_app)
    other = type(user).objects.create_user(email="bob@example.com", username="bob")
    other_access, other_refresh = issue_tokens(other, client_app)

    out = run("revoketokens", "--user", "ALICE@example.com")

    assert "Revoked 1 access token" in out
    assert AccessToken.objects.get(pk=access.pk).revoked is not None
    assert RefreshToken.objects.get(pk=refresh.pk).revoked is not None
    assert AccessToken.objects.get(pk=other_access.pk).revoked is None
    assert RefreshToken.objects.get(pk=other_refresh.pk).revoked is None


def test_revoketokens_by_client_revokes_only_that_clients_tokens(user, client_app):
    access, refresh = issue_tokens(user, client_app)
    other_app, _ = register_client(name="Other", public=False, grant_types=["client_credentials"])
    other_access, _ = issue_tokens(user, other_app)

    out = run("revoketokens", "--client", client_app.client_id)

    assert "Revoked 1 access token" in out
    assert AccessToken.objects.get(pk=access.pk).revoked is not None
    assert RefreshToken.objects.get(pk=refresh.pk).revoked is not None
    assert AccessToken.objects.get(pk=other_access.pk).revoked is None
    assert not AccessToken.objects.get(pk=access.pk).is_valid()


def test_revoketokens_by_username_and_rerun_revokes_nothing_new(user, client_app):
    issue_tokens(user, client_app)
    assert "Revoked 1 access token" in run("revoketokens", "--user", "alice")
    assert "Revoked 0 access tokens" in run("revoketokens", "--user", "alice")


def test_revoketokens_unknown_user_or_client_is_a_command_error():
    with pytest.raises(CommandError, match="No user"):
        run("revoketokens", "--user", "nobody@example.com")
    with pytest.raises(CommandError, match="No client"):
        run("revoketokens", "--client", "no-such-client")


def test_revoketokens_needs_exactly_one_target():
    with pytest.raises(CommandError):
        run("revoketokens")


@pytest.mark.parametrize(
    "uri",
    [
        "notauri",
        "ftp://example.com/cb",
        "https://example.com/cb#fragment",
        "https://",
        "http://evil.example/cb",
        "https://exa mple.com/cb",
    ],
)
def test_createclient_bad_redirect_uri_is_reported_once(uri):
    """One message per problem: authsite's explanation, not DOT's as well."""
    with pytest.raises(CommandError) as refused:
        run("createclient", "--name", "App", "--public", "--redirect-uri", uri)
    message = str(refused.value)
    assert message.count(uri) == 1, message
    assert "Validation error" not in message
    assert not Application.objects.exists()


@pytest.mark.slow
def test_rotatekeys_force_prints_each_change_once(tmp_path):
    """On a terminal (stdout and stderr together) every rotation line shows once."""
    import subprocess
    import sys

    from tests.support.servers import REPO, base_env, manage

    env = base_env(tmp_path)
    assert manage(env, "migrate", "--noinput").returncode == 0
    assert manage(env, "rotatekeys").returncode == 0  # creates the first keys
    result = subprocess.run(
        [sys.executable, "manage.py", "rotatekeys", "--force"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # as a terminal shows them
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    changes = [line for line in result.stdout.splitlines() if "activated" in line]
    assert len(changes) == 2, result.stdout  # RS256 and ES256, once each
    assert all(line.startswith(("RS256:", "ES256:")) for line in changes)
