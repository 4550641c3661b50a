"""Seed the benchmark database with authsite's own models and code paths.

Run by bench/targets/authsite.py in a subprocess with the benchmark's
environment (never imported by the driver, which stays free of Django):

    python bench/seed.py seed --users 10000 --clients 100 --tokens 100000 \
        --count 5000 --scenarios code_exchange,refresh --out material.json
    python bench/seed.py argon2          # password verifications per second, one core

Bulk rows (users, filler tokens) go in with PostgreSQL's COPY; single-use
material (codes, refresh tokens, tokens to introspect or revoke) with
``bulk_create`` through authsite's and DOT's model code, so checksums and
redacted token storage are what the server expects. Access tokens that a
scenario presents are real JWTs minted by ``oauth.tokens``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

import django  # noqa: E402

django.setup()

from oauth2_provider.models import set_token_value  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from oauth import tokens  # noqa: E402
from oauth.consent import remember  # noqa: E402
from oauth.models import AccessToken, Application, Grant, RefreshToken, jti_of  # noqa: E402
from oauth.revocation import revoke_access_tokens  # noqa: E402

PASSWORD = "bench password that is long enough"
SCOPE = "openid profile email"
BATCH = 5000
CYCLED = 2000  # distinct tokens introspected round-robin
REBUILD_INDEXES_FROM = 500_000  # rows in one COPY
User = get_user_model()
VARIES = object()


def log(message: str) -> None:
    print(f"[seed] {message}", file=sys.stderr, flush=True)


def user_email(i: int) -> str:
    return f"bench{i}@bench.example"


def redirect_uri(i: int) -> str:
    return f"https://client{i}.bench.example/callback"


# --- COPY ------------------------------------------------------------------------------


def copy_rows(model, columns: dict, total: int, row_values, progress: str) -> None:
    """COPY ``total`` rows into ``model``'s table.

    ``columns`` maps every concrete column but the primary key to a constant, or
    to ``VARIES`` when ``row_values(i)`` (a dict by attribute name) supplies it.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = [f.column for f in fields]
    missing = [f.name for f in fields if f.attname not in columns]
    if missing:
        raise SystemExit(f"{model.__name__}: no value for {missing} (the schema changed?)")
    constants = [columns[f.attname] for f in fields]
    slots = [(i, f.attname) for i, f in enumerate(fields) if constants[i] is VARIES]
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(n) for n in names)
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor, _rebuilt_indexes(model, total):
        if _superuser(cursor):
            # No foreign-key triggers row by row (the rows are consistent by construction):
            # deferred checks of millions of rows are queued in memory until commit.
            cursor.execute("SET LOCAL session_replication_role = replica")
        with cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            row = list(constants)
            for i in range(total):
                values = row_values(i)
                for slot, name in slots:
                    row[slot] = values[name]
                copy.write_row(row)
                if i and i % 500_000 == 0:
                    log(f"{progress}: {i:,} of {total:,} ({time.monotonic() - started:.0f} s)")
    log(f"{progress}: {total:,} rows in {time.monotonic() - started:.1f} s")


def _superuser(cursor) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return bool(cursor.fetchone()[0])


@contextmanager
def _rebuilt_indexes(model, total: int):
    """For a large COPY, drop the table's secondary indexes and build them once at the end:
    millions of random keys (jti, checksum) inserted into live B-trees take far longer."""
    if total < REBUILD_INDEXES_FROM:
        yield
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid), con.conname, pg_get_constraintdef(con.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype = 'u'
            WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
            """,
            [table],
        )
        indexes = cursor.fetchall()
        quote = connection.ops.quote_name
        for index, _, constraint, _ in indexes:
            if constraint:
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")
            else:
                cursor.execute(f"DROP INDEX {quote(index)}")
        yield
        started = time.monotonic()
        for _, definition, constraint, constraint_definition in indexes:
            if constraint:
                cursor.execute(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} "
                    f"{constraint_definition}"
                )
            else:
                cursor.execute(definition)
        log(f"{table}: {len(indexes)} indexes rebuilt in {time.monotonic() - started:.1f} s")


def seed_users(count: int) -> None:
    now = timezone.now()
    encoded = make_password(PASSWORD)  # one Argon2 hash, shared: hashing 1M would take hours
    columns = {
        "password": encoded,
        "last_login": now,
        "is_superuser": False,
        "uuid": VARIES,
        "email": VARIES,
        "email_verified": True,
        "username": VARIES,
        "first_name": "Bench",
        "last_name": "User",
        "is_staff": False,
        "is_active": True,
        "date_joined": now,
        "session_epoch": 0,
    }
    copy_rows(
        User,
        columns,
        count,
        lambda i: {"uuid": uuid.uuid4(), "email": user_email(i), "username": f"bench{i}"},
        "users",
    )


def seed_filler_tokens(count: int, user_ids: list[int], client_ids: list[int]) -> None:
    """Live access-token rows, so lookups and inserts meet a table of realistic size."""
    now = timezone.now()
    columns = {
        "user_id": VARIES,
        "source_refresh_token_id": None,
        "token": "",
        "token_checksum": VARIES,
        "id_token_id": None,
        "application_id": VARIES,
        "expires": now + timedelta(days=1),
        "scope": SCOPE,
        "created": now,
        "updated": now,
        "resource": Jsonb([]),
        "jti": VARIES,
        "grant_code_hash": "",
        "revoked": None,
    }
    nusers, nclients = len(user_ids), len(client_ids)
    prefix = secrets.token_hex(8)

    def row(i):
        return {
            "user_id": user_ids[i % nusers],
            "token_checksum": hashlib.sha256(f"filler-{prefix}-{i}".encode()).hexdigest(),
            "application_id": client_ids[i % nclients],
            "jti": uuid.uuid4(),
        }

    copy_rows(AccessToken, columns, count, row, "access tokens")


# --- clients and scenario material -------------------------------------------------------


def seed_clients(count: int) -> list[dict]:
    clients = []
    for i in range(count):
        secret = secrets.token_urlsafe(32)
        app = Application(
            name=f"bench client {i}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            grant_types="authorization_code refresh_token client_credentials",
            redirect_uris=redirect_uri(i),
            client_secret=secret,
            access_token_lifetime_seconds=3600,
        )
        app.save()
        clients.append({"id": app.pk, "client_id": app.client_id, "client_secret": secret})
    log(f"clients: {count}")
    return clients


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def mint_jwt(client, user, scope: str) -> str:
    """A real access token from authsite's own minting function."""
    request = SimpleNamespace(
        client=client,
        grant_type="authorization_code" if user is not None else "client_credentials",
        user=user,
        scopes=scope.split(),
        resource=None,
        authsite_grant=None,
    )
    return tokens.mint_access_token(request)


def store_access_tokens(client, users, scope: str, count: int) -> list[str]:
    """``count`` live JWT access tokens with their rows; returns the tokens."""
    expires = timezone.now() + timedelta(hours=1)
    minted, rows = [], []
    for i in range(count):
        user = users[i % len(users)] if users else None
        token = mint_jwt(client, user, scope)
        row = AccessToken(
            user=user, application=client, expires=expires, scope=scope, jti=jti_of(token)
        )
        set_token_value(row, token)
        rows.append(row)
        minted.append(token)
    for start in range(0, len(rows), BATCH):
        AccessToken.objects.bulk_create(rows[start : start + BATCH])
    return minted


def material(names: set[str], count: int, clients: list[dict]) -> dict:
    client = Application.objects.get(pk=clients[0]["id"])
    users = list(User.objects.order_by("pk")[:1000])
    out: dict = {}
    now = timezone.now()
    if "code_exchange" in names:
        rows, bodies = [], []
        for i in range(count):
            code, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
            rows.append(
                Grant(
                    user=users[i % len(users)],
                    application=client,
                    code=code,
                    expires=now + timedelta(hours=2),
                    redirect_uri=redirect_uri(0),
                    scope=SCOPE,
                    code_challenge=s256(verifier),
                    code_challenge_method="S256",
                    amr="pwd",
                    auth_time=now,
                )
            )
            bodies.append(
                urlencode(
                    {
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": redirect_uri(0),
                        "code_verifier": verifier,
                    }
                )
            )
        for start in range(0, count, BATCH):
            Grant.objects.bulk_create(rows[start : start + BATCH])
        out["code_exchange"] = bodies
        log(f"authorization codes: {count}")
    if "refresh" in names:
        expires = now + timedelta(hours=1)
        access, refresh, bodies = [], [], []
        for i in range(count):
            at = AccessToken(
                user=users[i % len(users)], application=client, expires=expires, scope=SCOPE
            )
            set_token_value(at, secrets.token_urlsafe(32))
            access.append(at)
        for start in range(0, count, BATCH):
            AccessToken.objects.bulk_create(access[start : start + BATCH])
        for at in access:
            token = tokens.generate_refresh_token(None)
            rt = RefreshToken(
                user=at.user,
                application=client,
                access_token=at,
                token_family=uuid.uuid4(),
                family_started=now,
            )
            set_token_value(rt, token)
            refresh.append(rt)
            bodies.append(urlencode({"grant_type": "refresh_token", "refresh_token": token}))
        for start in range(0, count, BATCH):
            RefreshToken.objects.bulk_create(refresh[start : start + BATCH])
        out["refresh"] = bodies
        log(f"refresh tokens: {count}")
    if "introspect_active" in names:
        minted = store_access_tokens(client, users, SCOPE, min(count, CYCLED))
        out["introspect_active"] = [urlencode({"token": t}) for t in minted]
        log(f"tokens to introspect (active): {len(minted)}")
    if "introspect_revoked" in names:
        minted = store_access_tokens(client, users, SCOPE, min(count, CYCLED))
        revoke_access_tokens(AccessToken.objects.filter(jti__in=[jti_of(t) for t in minted]))
        out["introspect_revoked"] = [urlencode({"token": t}) for t in minted]
        log(f"tokens to introspect (revoked): {len(minted)}")
    if "revoke" in names:
        minted = store_access_tokens(client, users, SCOPE, count)
        out["revoke"] = [urlencode({"token": t, "token_type_hint": "access_token"}) for t in minted]
        log(f"tokens to revoke: {len(minted)}")
    if "userinfo" in names:
        out["userinfo"] = store_access_tokens(client, users[:1], SCOPE, 1)[0]
    if "authorize" in names:
        remember(users[0], client, SCOPE.split())
    return out


def seed(args) -> None:
    names = set(filter(None, args.scenarios.split(",")))
    if not Application.objects.filter(name__startswith="bench client").exists():
        seed_users(args.users)
        clients = seed_clients(args.clients)
        user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True)[:100_000])
        seed_filler_tokens(args.tokens, user_ids, [c["id"] for c in clients])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        raise SystemExit("the benchmark database is already seeded: start from an empty one")
    out = {
        "clients": clients,
        "users": [user_email(i) for i in range(min(args.users, 10_000))],
        "password": PASSWORD,
        "scope": SCOPE,
        "redirect_uri": redirect_uri(0),
        "material": material(names, args.count, clients),
    }
    Path(args.out).write_text(json.dumps(out))


def argon2(args) -> None:
    """Password verifications per CPU second with the configured PASSWORD_HASHERS."""
    encoded = make_password(PASSWORD)
    check_password(PASSWORD, encoded)
    done, started = 0, time.process_time()
    while time.process_time() - started < args.seconds:
        if not check_password(PASSWORD, encoded):
            raise SystemExit("the password check failed")
        done += 1
    spent = time.process_time() - started
    print(
        json.dumps(
            {"verifications_per_second_per_core": done / spent, "hasher": encoded.split("$")[0]}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("seed")
    s.add_argument("--users", type=int, default=10_000)
    s.add_argument("--clients", type=int, default=100)
    s.add_argument("--tokens", type=int, default=100_000)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--scenarios", default="")
    s.add_argument("--out", required=True)
    a = commands.add_parser("argon2")
    a.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    {"seed": seed, "argon2": argon2}[args.command](args)


if __name__ == "__main__":
    main()
