"""The embedded default boots from nothing: migrate, bootstrap, serve, sign in."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

import httpx
import pytest

from tests.support.servers import Server, base_env, manage

pytestmark = pytest.mark.slow


def test_embedded_default_boots_from_an_empty_directory(tmp_path):
    env = base_env(tmp_path)  # no DATABASE_URL, REDIS_URL, broker or e-mail settings
    migrate = manage(env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    assert manage(env, "collectstatic", "--noinput").returncode == 0
    result = manage(env, "bootstrap", "--json")
    assert result.returncode == 0, result.stderr
    credentials = json.loads(result.stdout)
    assert (tmp_path / "authsite.sqlite3").is_file()

    with Server(env) as server, httpx.Client(base_url=server.url) as http:
        ready = http.get("/health/ready")
        assert ready.status_code == HTTPStatus.OK, ready.text
        detailed = http.get("/health/detailed").json()
        assert detailed["database_vendor"] == "sqlite"
        assert detailed["cache_backend"] == "LocMemCache"
        assert detailed["tasks"] == "inline"

        page = http.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        signed_in = http.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf,
                "username": credentials["admin"]["username"],
                "password": credentials["admin"]["password"],
                "next": "/admin/",
            },
        )
        assert signed_in.status_code == HTTPStatus.FOUND
        assert signed_in.headers["location"] == "/admin/"
        console = http.get("/admin/")
        assert console.status_code == HTTPStatus.OK
        assert "Site administration" in console.text
        assert http.get("/static/admin/css/base.css").status_code == HTTPStatus.OK

    again = manage(env, "bootstrap", "--json")
    assert json.loads(again.stdout)["admin"]["password"] is None, "second run reuses the admin"
