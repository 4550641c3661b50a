"""The home page is the entry point: sign-in and registration for visitors, the account page
and sign-out for a signed-in user, the admin console for staff only."""

from __future__ import annotations

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ACCOUNT = "/accounts/account/"
ADMIN = "/admin/"
REGISTER = "/accounts/register/"


def links(client, path="/") -> str:
    response = client.get(path)
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def test_a_visitor_is_offered_sign_in_and_registration(client):
    body = links(client)
    assert f'href="{LOGIN}"' in body
    assert f'href="{REGISTER}"' in body
    assert f'href="{ADMIN}"' not in body
    assert f'href="{ACCOUNT}"' not in body


@pytest.mark.parametrize("mode", ["invite", "closed"])
def test_registration_is_offered_only_when_it_is_open(client, settings, mode):
    settings.AUTHSITE_REGISTRATION_MODE = mode
    for page in ("/", LOGIN):
        body = links(client, page)
        assert f'href="{REGISTER}' not in body, page
    assert f'href="{LOGIN}"' in links(client)


def test_a_signed_in_user_gets_the_account_page_and_sign_out_but_no_admin(client, user):
    client.force_login(user)
    body = links(client)
    assert f'href="{ACCOUNT}"' in body
    assert 'action="/accounts/logout/"' in body and 'method="post"' in body
    assert f'href="{ADMIN}"' not in body
    assert f'href="{LOGIN}"' not in body


def test_staff_also_get_the_admin_console(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert f'href="{ADMIN}"' in links(client)


def test_sign_out_from_the_home_page_signs_out(client, user):
    client.force_login(user)
    home = client.get("/")
    csrf = home.context["csrf_token"]
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": str(csrf)})
    assert response.status_code == HTTPStatus.FOUND
    assert f'href="{LOGIN}"' in links(client)


def test_sign_in_without_next_lands_on_the_account_page(client, user, password):
    response = client.post(LOGIN, {"username": "alice", "password": password})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == ACCOUNT
    assert client.get(ACCOUNT).status_code == HTTPStatus.OK
