"""client_auth.load_client caches Application rows for a minute; every change invalidates
them at once (tests/oauth/test_client_cache_invalidation.py covers each change path), and a
dead cache only means reading the database."""

from __future__ import annotations

import base64
import secrets

import pytest

from django.core.cache import cache

from oauth import client_auth
from oauth.exceptions import OAuthError
from oauth.models import Application
from tests.support.oauth import make_client
from tests.support.own_redis import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db


def authenticate(client_id: str, secret: str):
    """Client authentication as the token endpoint runs it (client_secret_basic)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = client_auth.ClientRequest(
        body={},
        query={},
        authorization=f"Basic {basic}",
        path="/oauth/token",
        client_ip=f"2001:db8:cac4::{secrets.randbelow(65536):x}",
    )
    return client_auth.authenticate(request)


@pytest.fixture
def client(db):
    return make_client(name="Cached RP")


def cache_client(client_id: str) -> None:
    """Put the client in the cache, as the first request does once the marker left by its
    registration (a save) has expired."""
    key = client_auth.client_cache_key(client_id)
    cache.delete(key)
    client_auth.load_client(client_id)
    version, cached = cache.get(key)
    assert isinstance(cached, Application)
    assert version == cache.get(client_auth.CLIENT_CACHE_VERSION_KEY)


def test_a_loaded_client_is_served_from_the_cache(client, django_assert_num_queries):
    app, _ = client
    cache_client(app.client_id)
    with django_assert_num_queries(0):
        cached = client_auth.load_client(app.client_id)
    assert cached.pk == app.pk and cached.client_id == app.client_id
    assert cached.redirect_uris == app.redirect_uris


def test_a_new_secret_applies_at_once(client):
    app, old_secret = client
    cache_client(app.client_id)
    assert authenticate(app.client_id, old_secret).pk == app.pk
    new_secret = secrets.token_urlsafe(32)
    app.client_secret = new_secret
    app.save()
    with pytest.raises(OAuthError) as refused:
        authenticate(app.client_id, old_secret)
    assert refused.value.error == "invalid_client"
    assert authenticate(app.client_id, new_secret).pk == app.pk


def test_a_new_redirect_uri_applies_at_once(client):
    app, _ = client
    cache_client(app.client_id)
    app.redirect_uris = "https://rp.test/new-callback"
    app.save()
    assert client_auth.load_client(app.client_id).redirect_uris == "https://rp.test/new-callback"


def test_a_deleted_client_is_gone_at_once(client):
    app, _ = client
    client_id = app.client_id
    cache_client(client_id)
    app.delete()
    assert client_auth.load_client(client_id) is None


def test_a_changed_client_id_is_not_served_under_the_old_one(client):
    app, _ = client
    old_id = app.client_id
    cache_client(old_id)
    app.client_id = f"renamed-{secrets.token_hex(8)}"
    app.save()
    assert client_auth.load_client(old_id) is None
    assert client_auth.load_client(app.client_id).pk == app.pk


def test_a_read_that_straddles_a_save_cannot_cache_the_old_row(client):
    """A request that read the row just before a save must not put it back in the cache."""
    app, _ = client
    cache_client(app.client_id)
    version_before_save = cache.get(client_auth.CLIENT_CACHE_VERSION_KEY)
    read_before_save = Application.objects.get(pk=app.pk)
    app.redirect_uris = "https://rp.test/after-save"
    app.save()
    # What load_client does with the row it read: cache it under the version it saw first.
    cache.set(
        client_auth.client_cache_key(app.client_id), (version_before_save, read_before_save), 60
    )
    assert client_auth.load_client(app.client_id).redirect_uris == "https://rp.test/after-save"


def test_unknown_client_ids_are_not_cached(db, django_assert_num_queries):
    for _ in range(2):
        with django_assert_num_queries(1):
            assert client_auth.load_client(f"unknown-{secrets.token_hex(8)}") is None


def test_the_database_answers_when_the_cache_is_down(client, settings):
    app, secret = client
    settings.CACHES = UNREACHABLE_REDIS
    assert authenticate(app.client_id, secret).pk == app.pk
    app.redirect_uris = "https://rp.test/while-down"
    app.save()  # the receivers must not fail the save
    assert client_auth.load_client(app.client_id).redirect_uris == "https://rp.test/while-down"
    app.delete()
    assert client_auth.load_client(app.client_id) is None
