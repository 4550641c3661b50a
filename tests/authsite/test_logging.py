"""No password, token, code or client secret ever appears in a log line (ASVS 16.2.5)."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from common.logging import (
    JsonFormatter,
    RedactSecretsFilter,
    RequestContextFilter,
    TextFormatter,
    redact,
    request_id_var,
)
from tests.support.servers import Server, base_env, manage

SECRETS = [
    "S3cret-Passw0rd!xyz",
    "tok_2f9c1d77e0b64a5b",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    "AuthCodeVa1ue987654",
]


@pytest.mark.parametrize(
    "line",
    [
        "login failed password=S3cret-Passw0rd!xyz for user",
        "POST body: grant_type=authorization_code&code=AuthCodeVa1ue987654&redirect_uri=x",
        "refresh_token=tok_2f9c1d77e0b64a5b",
        "{'client_secret': 'tok_2f9c1d77e0b64a5b', 'client_id': 'abc'}",
        '{"access_token": "tok_2f9c1d77e0b64a5b", "token_type": "Bearer"}',
        "Authorization: Bearer tok_2f9c1d77e0b64a5b",
        "header Authorization: Basic dG9rXzJmOWMxZDc3ZTBiNjRhNWI=",
        "id token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl issued",
        "could not connect to postgres://authsite:S3cret-Passw0rd!xyz@db:5432/authsite",
        "code_verifier=AuthCodeVa1ue987654",
    ],
)
def test_redact_removes_credentials(line):
    cleaned = redact(line)
    assert not any(secret in cleaned for secret in SECRETS), cleaned
    assert "[REDACTED]" in cleaned


def test_redact_keeps_ordinary_text():
    line = "GET /health/ready 200 1.2ms status_code=200 client_id=abc"
    assert redact(line) == line


def format_record(formatter, msg, *args, exc_info=None, **extra):
    record = logging.LogRecord("authsite.test", logging.INFO, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    for flt in (RequestContextFilter(), RedactSecretsFilter()):
        flt.filter(record)
    return formatter.format(record)


def test_json_lines_carry_the_request_id_and_no_secret():
    token = request_id_var.set("rid-42")
    try:
        line = format_record(
            JsonFormatter(), "token request with %s", "password=S3cret-Passw0rd!xyz"
        )
    finally:
        request_id_var.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "rid-42"
    assert data["level"] == "INFO" and data["logger"] == "authsite.test"
    assert "S3cret" not in line


def test_exception_text_is_redacted_and_kept_on_one_line():
    try:
        raise ValueError("bad secret=tok_2f9c1d77e0b64a5b")
    except ValueError:
        import sys

        line = format_record(TextFormatter("%(message)s"), "boom", exc_info=sys.exc_info())
    assert "tok_2f9c" not in line
    assert "\n" not in line and "Traceback" in line


def test_control_characters_cannot_forge_log_lines():
    line = format_record(TextFormatter("%(message)s"), "user %s", "x\r\nINFO fake admin login")
    assert "\n" not in line and "\r" not in line


@pytest.mark.slow
def test_server_logs_hold_no_secret_and_carry_request_ids(tmp_path):
    """A real server, fed credentials every way a client might send them, logs none of them."""
    env = base_env(tmp_path, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    assert manage(env, "migrate", "--noinput").returncode == 0
    admin_password = "Adm1n-Passw0rd-For-Logs"
    result = manage(env, "bootstrap", "--json", "--admin-password", admin_password)
    assert result.returncode == 0, result.stderr
    with Server(env) as server:
        with httpx.Client(base_url=server.url) as http:
            http.get("/health/ready", headers={"X-Request-ID": "trace-me-123"})
            http.get(f"/health/live?access_token={SECRETS[1]}&code={SECRETS[3]}")
            http.get("/metrics", headers={"Authorization": f"Bearer {SECRETS[1]}"})
            page = http.get("/admin/login/")
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            http.post(
                "/admin/login/",
                data={"csrfmiddlewaretoken": csrf, "username": "admin", "password": SECRETS[0]},
            )
            http.post(
                "/admin/login/",
                data={"csrfmiddlewaretoken": csrf, "username": "admin", "password": admin_password},
            )
        output = server.output()
    for secret in [*SECRETS, admin_password]:
        assert secret not in output
    # LOG_FORMAT=json: every line the server writes, gunicorn's own included, is JSON.
    app_lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any(line["logger"] == "gunicorn.error" for line in app_lines)
    access = [line for line in app_lines if line["logger"] == "authsite.access"]
    assert len(access) >= 6
    assert all(line["request_id"] not in ("", "-") for line in access)
    assert any(line["request_id"] == "trace-me-123" for line in access)
    assert any(line["path"] == "/health/live" for line in access), "path logged, query dropped"


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/reset/MTIzNDU2/cf3k2l-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d/",
        "/accounts/verify/eyJ1IjoiYWxpY2UifQ:1tQx9Z:abcdefghijklmnopqrstuvwxyz012345/",
        "/accounts/email/change/confirm/eyJlbWFpbCI6ImFAYi5jIn0:1tQx9Z:abcdefghijklmnop/",
    ],
)
def test_capability_links_in_paths_are_redacted(path):
    """A reset, verification or e-mail-change link in a logged path must not be replayable."""
    from common.logging import redact

    redacted = redact(f"GET {path} 200 3.1ms 127.0.0.1")
    assert "[REDACTED]" in redacted
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert token not in redacted
    assert redact("GET /accounts/verify/resend/ 302") == "GET /accounts/verify/resend/ 302"
