"""Seed the plain DOT project and print the benchmark scenarios it supports, as JSON.

    python -m dot.seed '{"names": ["client_credentials", ...], "count": 1000}'

Run by bench/targets/dot_plain.py from ``bench/peers`` with the project's environment. It
migrates, empties the benchmark's tables (its own database only), then creates through
DOT's models, in bulk: one user, a confidential client_credentials client and a confidential
authorization-code client (PKCE), and ``count`` of each single-use item (authorization codes
as Grant rows, refresh tokens, tokens to revoke). Seeded codes and tokens get a lifetime of
an hour so they outlive the timed window (DOT's own codes live 60 s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from datetime import timedelta
from urllib.parse import urlencode

import django

REDIRECT_URI = "https://client.example/callback"
PASSWORD = "bench-password-1"
FORM = "application/x-www-form-urlencoded"
BATCH = 1000
OWNERS = 1000


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def main(names: list[str], count: int) -> dict[str, dict]:
    # lazy: Django's models can only be imported after django.setup() below
    from oauth2_provider.models import (
        AccessToken,
        Application,
        Grant,
        RefreshToken,
        set_token_value,
    )

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE oauth2_provider_accesstoken, oauth2_provider_refreshtoken,"
            " oauth2_provider_grant, oauth2_provider_idtoken, oauth2_provider_application,"
            " django_session, auth_user CASCADE"
        )

    hashed = os.environ.get("BENCH_DOT_PLAIN_SECRETS", "") not in ("1", "true", "yes")
    user = User.objects.create_user("bench", "bench@example.com", PASSWORD)
    cc_secret, code_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    cc_app = Application.objects.create(
        name="bench client_credentials",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=cc_secret,
        hash_client_secret=hashed,
    )
    code_app = Application.objects.create(
        name="bench authorization code",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        client_secret=code_secret,
        hash_client_secret=hashed,
        algorithm=Application.RS256_ALGORITHM,
    )
    # Codes and refresh tokens are spread over other users: DOT's approval_prompt=auto scans
    # every live token of the signed-in user and client, and one user holding thousands of
    # them would measure that scan instead of the authorize page.
    owners = User.objects.bulk_create(
        [
            User(username=f"bench-{i}", email=f"bench-{i}@example.com", password=user.password)
            for i in range(max(1, min(count, OWNERS)))
        ],
        batch_size=BATCH,
    )
    cc_auth = {"Authorization": basic(cc_app.client_id, cc_secret), "Content-Type": FORM}
    code_auth = {"Authorization": basic(code_app.client_id, code_secret), "Content-Type": FORM}
    expires = timezone.now() + timedelta(hours=1)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )

    def access_tokens(n: int, *, app, owner, scope: str) -> list[tuple[str, AccessToken]]:
        """n tokens of ``owner`` (a user, None, or a list of users taken in turn)."""
        made = []
        for i in range(n):
            raw = secrets.token_urlsafe(30)
            holder = owner[i % len(owner)] if isinstance(owner, list) else owner
            token = AccessToken(user=holder, application=app, expires=expires, scope=scope)
            set_token_value(token, raw)
            made.append((raw, token))
        AccessToken.objects.bulk_create([t for _, t in made], batch_size=BATCH)
        return made

    scenarios: dict[str, dict] = {}
    wanted = set(names)
    if "discovery" in wanted:
        scenarios["discovery"] = {"method": "GET", "path": "/o/.well-known/openid-configuration"}
    if "jwks" in wanted:
        scenarios["jwks"] = {"method": "GET", "path": "/o/.well-known/jwks.json"}
    if "client_credentials" in wanted:
        scenarios["client_credentials"] = {
            "method": "POST",
            "path": "/o/token/",
            "headers": cc_auth,
            "body": urlencode({"grant_type": "client_credentials"}),
        }
    if "code_exchange" in wanted:
        codes = [secrets.token_urlsafe(30) for _ in range(count)]
        Grant.objects.bulk_create(
            [
                Grant(
                    user=owners[i % len(owners)],
                    application=code_app,
                    code=code,
                    expires=expires,
                    redirect_uri=REDIRECT_URI,
                    scope="openid",
                    code_challenge=challenge,
                    code_challenge_method="S256",
                )
                for i, code in enumerate(codes)
            ],
            batch_size=BATCH,
        )
        scenarios["code_exchange"] = {
            "method": "POST",
            "path": "/o/token/",
            "headers": code_auth,
            "bodies": [
                urlencode(
                    {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT_URI,
                        "code_verifier": verifier,
                    }
                )
                for code in codes
            ],
        }
    if "refresh" in wanted:
        pairs = access_tokens(count, app=code_app, owner=owners, scope="openid")
        refresh = []
        for _, access in pairs:
            raw = secrets.token_urlsafe(30)
            token = RefreshToken(user=access.user, application=code_app, access_token=access)
            set_token_value(token, raw)
            refresh.append((raw, token))
        RefreshToken.objects.bulk_create([t for _, t in refresh], batch_size=BATCH)
        scenarios["refresh"] = {
            "method": "POST",
            "path": "/o/token/",
            "headers": code_auth,
            "bodies": [
                urlencode({"grant_type": "refresh_token", "refresh_token": raw})
                for raw, _ in refresh
            ],
        }
    # Machine tokens (client_credentials) for introspection and revocation.
    if "introspect_active" in wanted:
        [(raw, _)] = access_tokens(1, app=cc_app, owner=None, scope="read")
        scenarios["introspect_active"] = {
            "method": "POST",
            "path": "/o/introspect/",
            "headers": cc_auth,
            "body": urlencode({"token": raw}),
        }
    if "introspect_revoked" in wanted:
        [(raw, token)] = access_tokens(1, app=cc_app, owner=None, scope="read")
        AccessToken.objects.get(pk=token.pk).revoke()  # what DOT's revocation does: a DELETE
        scenarios["introspect_revoked"] = {
            "method": "POST",
            "path": "/o/introspect/",
            "headers": cc_auth,
            "body": urlencode({"token": raw}),
        }
    if "revoke" in wanted:
        made = access_tokens(count, app=cc_app, owner=None, scope="read")
        scenarios["revoke"] = {
            "method": "POST",
            "path": "/o/revoke_token/",
            "headers": cc_auth,
            "bodies": [urlencode({"token": raw}) for raw, _ in made],
        }
    if "userinfo" in wanted:
        [(raw, _)] = access_tokens(1, app=code_app, owner=user, scope="openid")
        scenarios["userinfo"] = {
            "method": "GET",
            "path": "/o/userinfo/",
            "headers": {"Authorization": f"Bearer {raw}"},
        }
    if "authorize" in wanted:
        # Signed in (a session row) with consent remembered: DOT's approval_prompt=auto
        # skips the consent page when a live token of this user and client covers the scope.
        access_tokens(1, app=code_app, owner=user, scope="openid")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": code_app.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "approval_prompt": "auto",
            }
        )
        scenarios["authorize"] = {
            "method": "GET",
            "path": f"/o/authorize/?{query}",
            "headers": {"Cookie": f"sessionid={session.session_key}"},
            "expect": [302],
        }
    if "signin" in wanted:
        # Django's LoginView: the CSRF cookie and the form field carry the same secret.
        csrf = secrets.token_hex(16)
        scenarios["signin"] = {
            "method": "POST",
            "path": "/accounts/login/",
            "headers": {"Cookie": f"csrftoken={csrf}", "Content-Type": FORM},
            "body": urlencode(
                {"username": "bench", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
            ),
            "expect": [302],
        }
    # Vacuumed and analysed now, so autovacuum does not wake up inside the timed window.
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE oauth2_provider_accesstoken, oauth2_provider_refreshtoken,"
            " oauth2_provider_grant, oauth2_provider_idtoken, oauth2_provider_application,"
            " django_session, auth_user"
        )
    return scenarios


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dot.settings")
    django.setup()
    json.dump(main(request["names"], request["count"]), sys.stdout)
    sys.stdout.write("\n")
