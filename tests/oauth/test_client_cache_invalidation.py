"""Every way a client can change invalidates the client cache at once, on every instance.

The cache lives in the shared Redis, so what one instance changes is what every
other instance's next ``load_client`` sees. Each test warms the cache through the
token endpoint, changes the client one way, and checks that the very next token
request (RFC 6749 §2.3.1 client authentication) sees the change: the old secret is
refused with ``invalid_client`` (§5.2), a deleted client is gone, a new redirect
URI applies.
"""

from __future__ import annotations

import base64
import secrets

import pytest

from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.test import Client

from oauth import client_auth
from oauth.models import Application
from tests.support.oauth import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

CHANGE_URL = "/admin/oauth/application/{pk}/change/"
CHANGELIST_URL = "/admin/oauth/application/"


@pytest.fixture(autouse=True)
def _shared_redis_cache(settings, redis_url):
    """These tests are about the shared cache: they run against the real Redis."""
    assert settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"


@pytest.fixture
def service(db):
    app, secret = make_client(
        name="Cached service", grant_types=["client_credentials"], redirect_uris=[]
    )
    return app, secret


@pytest.fixture
def console(db, password) -> Client:
    from accounts.models import User

    admin = User.objects.create_superuser(
        email="root@example.com", username="root", password=password
    )
    http = Client()
    http.force_login(admin)
    return http


@pytest.fixture
def token_request(db):
    """POST /oauth/token (client_credentials, client_secret_basic) through the real stack."""

    def request(client_id: str, secret: str):
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return Client().post(
            "/oauth/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )

    return request


@pytest.fixture
def warm(token_request):
    """A token request that succeeds and leaves the client in the shared cache."""

    def warm_up(app, secret, *, issue_token: bool = True) -> None:
        if issue_token:
            assert token_request(app.client_id, secret).status_code == 200
        else:  # the admin refuses to delete a client that has tokens (DOT: revoke them)
            client_auth.load_client(app.client_id)
        version, cached = cache.get(client_auth.client_cache_key(app.client_id))
        assert cached.pk == app.pk
        assert version == cache.get(client_auth.CLIENT_CACHE_VERSION_KEY)

    return warm_up


@pytest.fixture
def assert_refused(token_request):
    def refused(client_id: str, secret: str) -> None:
        response = token_request(client_id, secret)
        assert response.status_code == 401, response.content
        assert response.json()["error"] == "invalid_client"

    return refused


def admin_form_data(console, app) -> dict:
    """The admin change form as the browser would submit it unchanged."""
    page = console.get(CHANGE_URL.format(pk=app.pk))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    return data


def new_secret_by_save(app, new, console):
    app.client_secret = new
    app.save()


def new_secret_by_queryset_update(app, new, console):
    Application.objects.filter(pk=app.pk).update(client_secret=make_password(new))


def new_secret_by_bulk_update(app, new, console):
    app.client_secret = make_password(new)
    Application.objects.bulk_update([app], ["client_secret"])


def new_secret_by_admin_change_form(app, new, console):
    data = {**admin_form_data(console, app), "client_secret": new, "hash_client_secret": "on"}
    response = console.post(CHANGE_URL.format(pk=app.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors


NEW_SECRET_PATHS = {
    "save()": new_secret_by_save,
    "QuerySet.update()": new_secret_by_queryset_update,
    "bulk_update()": new_secret_by_bulk_update,
    "admin change form": new_secret_by_admin_change_form,
}


@pytest.mark.parametrize("change", NEW_SECRET_PATHS.values(), ids=NEW_SECRET_PATHS.keys())
def test_a_new_client_secret_applies_at_once(
    service, console, change, warm, assert_refused, token_request
):
    app, old_secret = service
    warm(app, old_secret)
    new_secret = secrets.token_urlsafe(32)

    change(app, new_secret, console)

    assert_refused(app.client_id, old_secret)
    assert token_request(app.client_id, new_secret).status_code == 200


def delete_by_instance(app, console):
    app.delete()


def delete_by_queryset(app, console):
    Application.objects.filter(pk=app.pk).delete()


def delete_by_admin_delete_selected(app, console):
    other, _ = make_client(name="Deleted with it", grant_types=["client_credentials"])
    response = console.post(
        CHANGELIST_URL,
        {"action": "delete_selected", "_selected_action": [app.pk, other.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Application.objects.filter(pk__in=[app.pk, other.pk]).exists()


def delete_by_admin_delete_page(app, console):
    response = console.post(f"/admin/oauth/application/{app.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Application.objects.filter(pk=app.pk).exists()


DELETE_PATHS = {
    "Model.delete()": delete_by_instance,
    "QuerySet.delete()": delete_by_queryset,
    "admin delete selected": delete_by_admin_delete_selected,
    "admin delete page": delete_by_admin_delete_page,
}


@pytest.mark.parametrize("delete", DELETE_PATHS.values(), ids=DELETE_PATHS.keys())
def test_a_deleted_client_is_refused_at_once(service, console, delete, warm, assert_refused):
    app, secret = service
    warm(app, secret, issue_token=False)

    delete(app, console)

    assert_refused(app.client_id, secret)
    assert client_auth.load_client(app.client_id) is None


@pytest.mark.parametrize("by", ["save()", "QuerySet.update()"])
def test_a_new_redirect_uri_applies_at_once(db, by):
    app, secret = make_client(name="Redirecting RP", redirect_uris=["https://rp.test/old"])
    client_auth.load_client(app.client_id)
    assert client_auth.load_client(app.client_id).redirect_uris == "https://rp.test/old"

    if by == "save()":
        app.redirect_uris = "https://rp.test/new"
        app.save()
    else:
        Application.objects.filter(pk=app.pk).update(redirect_uris="https://rp.test/new")

    assert client_auth.load_client(app.client_id).redirect_uris == "https://rp.test/new"


def test_a_client_made_public_by_update_can_no_longer_use_its_secret(service, warm, assert_refused):
    """Downgrading a client with ``update()`` (no signal) takes its secret away at once."""
    app, secret = service
    warm(app, secret)

    Application.objects.filter(pk=app.pk).update(client_type=Application.CLIENT_PUBLIC)

    assert_refused(app.client_id, secret)


def test_an_update_that_matches_nothing_keeps_the_cache(service, warm, django_assert_num_queries):
    app, secret = service
    warm(app, secret)

    Application.objects.filter(pk=-1).update(name="nobody")

    with django_assert_num_queries(0):
        assert client_auth.load_client(app.client_id).pk == app.pk
