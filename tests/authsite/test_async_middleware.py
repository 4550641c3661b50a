"""The middleware stack under ASGI (Django's AsyncClient): sessions, CSRF and sign-in.

authsite runs Django's session, CSRF, auth and message middleware hooks on
the event loop; these tests drive the async path end to end so a hook that
touched the database there would fail loudly (SynchronousOnlyOperation).
"""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync

from django.test import AsyncClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db, password):
    from accounts.models import User

    return User.objects.create_superuser(
        email="root@example.com", username="root", password=password
    )


def call(client, method, path, **kwargs):
    return async_to_sync(getattr(client, method))(path, **kwargs)


def csrf_token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())[1]


def test_sign_in_to_the_admin_over_asgi(staff, password):
    client = AsyncClient(enforce_csrf_checks=True)
    page = call(client, "get", "/admin/login/")
    assert page.status_code == HTTPStatus.OK
    assert "csrftoken" in page.cookies

    form = {"username": "root", "password": password, "next": "/admin/"}
    refused = call(client, "post", "/admin/login/", data=form)
    assert refused.status_code == HTTPStatus.FORBIDDEN, "a POST without the CSRF token is refused"

    signed_in = call(
        client, "post", "/admin/login/", data={**form, "csrfmiddlewaretoken": csrf_token(page)}
    )
    assert signed_in.status_code == HTTPStatus.FOUND
    assert signed_in["Location"] == "/admin/"
    assert "sessionid" in signed_in.cookies

    console = call(client, "get", "/admin/")
    assert console.status_code == HTTPStatus.OK
    assert b"Site administration" in console.content
    assert console["X-Request-ID"]


def test_wrong_password_over_asgi_keeps_the_visitor_anonymous(staff, password):
    client = AsyncClient(enforce_csrf_checks=True)
    page = call(client, "get", "/admin/login/")
    response = call(
        client,
        "post",
        "/admin/login/",
        data={
            "username": "root",
            "password": password + "x",
            "csrfmiddlewaretoken": csrf_token(page),
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert b"Please enter the correct" in response.content
    assert call(client, "get", "/admin/").status_code == HTTPStatus.FOUND


def test_sign_out_over_asgi_ends_the_session(staff, password):
    client = AsyncClient()
    async_to_sync(client.aforce_login)(staff)
    assert call(client, "get", "/admin/").status_code == HTTPStatus.OK
    out = call(client, "post", "/admin/logout/")
    assert out.status_code == HTTPStatus.OK
    assert call(client, "get", "/admin/").status_code == HTTPStatus.FOUND
