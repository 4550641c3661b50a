"""The grant store on the fast path's async psycopg pool (oauth/fastpath/backends.py).

The same contract as ``orm.OrmGrantStore``, in SQL: a redemption or a
rotation is ONE statement (claim or revoke, the two token rows, the audit
event: all or nothing), so a code or refresh token used twice at once is
issued exactly once. Audit rows are built by ``oauth.fastpath.events`` (the
same actor, target, redaction and HMAC as ``audit.services.record``).
"""

from __future__ import annotations

import json

from oauth2_provider.settings import oauth2_settings

from accounts.models import User
from audit.models import AuditEvent
from oauth import tokens
from oauth.fastpath import events
from oauth.fastpath.backends import call_django
from oauth.grants.records import CodeRecord, Event, NewTokens, RefreshRecord
from oauth.models import AccessToken, Application, Grant, IDToken, RefreshToken

AT, RT, GRANT = (
    AccessToken._meta.db_table,
    RefreshToken._meta.db_table,
    Grant._meta.db_table,
)
AUDIT = AuditEvent._meta.db_table
IDT = IDToken._meta.db_table
_USER_FIELDS = list(User._meta.concrete_fields)
_USER_COLUMNS = ", ".join(f'u."{field.column}"' for field in _USER_FIELDS)

LOAD_CODE = f"""
SELECT g.id, g.application_id, g.scope, g.redirect_uri, g.code_challenge,
       g.code_challenge_method, g.expires, g.redeemed, g.nonce, g.claims, g.resource,
       g.auth_time, g.amr, g.sid, {_USER_COLUMNS}
FROM {GRANT} g JOIN {User._meta.db_table} u ON u.id = g.user_id
WHERE g.code = %s AND g.application_id = %s
"""  # noqa: S608

LOAD_REFRESH = f"""
SELECT r.id, r.application_id, a.client_id, a.name, a.client_type, r.created, r.revoked,
       r.token_family, r.grant_code_hash, r.family_started, r.access_token_id, t.scope,
       t.expires, r.resource, {_USER_COLUMNS}
FROM {RT} r
JOIN {User._meta.db_table} u ON u.id = r.user_id
JOIN {Application._meta.db_table} a ON a.id = r.application_id
LEFT JOIN {AT} t ON t.id = r.access_token_id
WHERE r.token_checksum = %s
ORDER BY r.revoked DESC NULLS FIRST
LIMIT 1
"""  # noqa: S608

# The new pair, after a CTE named ``source`` that yields one row when the grant may issue.
# Parameters: the ID token's 8 (its row only when the last is true), the access token's 12,
# the refresh token's 10, then the event's 15.
_PAIR = f"""
, new_id AS (
    INSERT INTO {IDT} (jti, expires, scope, created, updated, application_id, user_id)
    SELECT %s::uuid, %s::timestamptz, %s, %s, %s, %s, %s FROM source WHERE %s::boolean
    RETURNING id
), new_access AS (
    INSERT INTO {AT} (token, token_checksum, expires, scope, resource, created, updated, jti,
                      grant_code_hash, user_id, application_id, source_refresh_token_id,
                      id_token_id)
    SELECT %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::bigint,
           (SELECT id FROM new_id) FROM source
    RETURNING id
), new_refresh AS (
    INSERT INTO {RT} (token, token_checksum, token_family, resource, created, updated,
                      grant_code_hash, family_started, access_token_id, application_id, user_id)
    SELECT %s, %s, %s, %s::jsonb, %s, %s, %s, %s, new_access.id, %s, %s FROM new_access
    RETURNING 1
), event AS (
    INSERT INTO {AUDIT} ({events.COLUMNS})
    SELECT {events.PLACEHOLDERS} FROM new_refresh
    RETURNING 1
)
"""

REDEEM = f"""
WITH source AS (
    UPDATE {GRANT} SET redeemed = %s WHERE id = %s AND redeemed IS NULL RETURNING 1
){_PAIR}
SELECT count(*) FROM event
"""  # noqa: S608

ROTATE = f"""
WITH source AS (
    UPDATE {RT} SET revoked = %s, updated = %s, access_token_id = NULL
    WHERE id = %s AND revoked IS NULL RETURNING 1
), old_access AS (
    UPDATE {AT} SET revoked = %s, updated = %s
    WHERE id = %s AND revoked IS NULL AND EXISTS (SELECT 1 FROM source)
    RETURNING jti, expires
){_PAIR}
SELECT (SELECT count(*) FROM event), old_access.jti, old_access.expires
FROM (SELECT 1) AS one LEFT JOIN old_access ON true
"""  # noqa: S608

SPEND = f"UPDATE {GRANT} SET redeemed = %s WHERE id = %s AND redeemed IS NULL"  # noqa: S608

# Members of the families to end: parameters (family list, code hash).
_REVOKE_MEMBERS = f"""
WITH members AS (
    SELECT id, access_token_id FROM {RT}
    WHERE token_family = ANY(%s::uuid[]) OR grant_code_hash = %s
), access AS (
    UPDATE {AT} SET revoked = %s, updated = %s
    WHERE revoked IS NULL AND (
        grant_code_hash = %s
        OR id IN (SELECT access_token_id FROM members WHERE access_token_id IS NOT NULL)
        OR source_refresh_token_id IN (SELECT id FROM members))
    RETURNING jti, expires, grant_code_hash
), refresh AS (
    UPDATE {RT} SET revoked = %s, updated = %s
    WHERE revoked IS NULL AND id IN (SELECT id FROM members)
)
SELECT jti, expires, grant_code_hash FROM access
"""  # noqa: S608

FAMILIES_OF_CODE = (
    f"SELECT DISTINCT token_family FROM {RT} "  # noqa: S608
    "WHERE grant_code_hash = %s AND token_family IS NOT NULL"
)
INSERT_EVENT = f"INSERT INTO {AUDIT} ({events.COLUMNS}) VALUES ({events.PLACEHOLDERS})"  # noqa: S608


def _user(values) -> User:
    user = User(**{field.attname: value for field, value in zip(_USER_FIELDS, values, strict=True)})
    user._state.adding = False
    return user


def _stored(raw: str) -> str:
    """The ``token`` column: blank under RFC 9700 token storage, as DOT's ``set_token_value``."""
    return "" if oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE else raw


def _pair_params(issued: NewTokens) -> tuple:
    resource = json.dumps(issued.resource)
    return (
        issued.id_token_jti,
        issued.id_token_expires,
        " ".join(issued.scopes),
        issued.created,
        issued.created,
        issued.application_id,
        issued.user_id,
        issued.id_token is not None,
        _stored(issued.access_token),
        tokens.checksum(issued.access_token),
        issued.expires,
        " ".join(issued.scopes),
        resource,
        issued.created,
        issued.created,
        issued.jti,
        issued.grant_code_hash,
        issued.user_id,
        issued.application_id,
        issued.source_refresh_token_id,
        _stored(issued.refresh_token),
        tokens.checksum(issued.refresh_token),
        issued.token_family,
        resource,
        issued.created,
        issued.created,
        issued.family_grant_code_hash,
        issued.family_started,
        issued.application_id,
        issued.user_id,
    )


class PostgresGrantStore:
    """``GrantStore`` on ``backends``' pool; ``request`` (the fast path's) gives the audit
    events their address, user agent and request id."""

    def __init__(self, backends, request) -> None:
        self.backends = backends
        self.request = request

    async def call(self, function, *args, **kwargs):
        return await call_django(function, *args, **kwargs)

    def _event(self, event: Event) -> tuple:
        return events.event_row(
            event.action,
            event.actor,
            event.target,
            event.details,
            self.request,
            outcome=event.outcome,
        )

    async def _execute(self, sql: str, params: tuple, *, fetch: str = "one"):
        pool = await self.backends.pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            if fetch == "one":
                return await cursor.fetchone()
            if fetch == "all":
                return await cursor.fetchall()
            return cursor.rowcount

    # --- codes ---------------------------------------------------------------------
    async def load_code(self, application_id, code):
        row = await self._execute(LOAD_CODE, (code, application_id))
        if row is None:
            return None
        return CodeRecord(
            id=row[0],
            code_hash=tokens.checksum(code),
            application_id=row[1],
            scope=row[2],
            redirect_uri=row[3],
            code_challenge=row[4],
            code_challenge_method=row[5],
            expires=row[6],
            redeemed=row[7],
            nonce=row[8],
            claims=row[9],
            resource=list(row[10] or []),
            auth_time=row[11],
            amr=row[12],
            sid=row[13],
            user=_user(row[14:]),
        )

    async def spend_code(self, record, now):
        return bool(await self._execute(SPEND, (now, record.id), fetch="count"))

    async def redeem_code(self, record, issued, event, now):
        params = (now, record.id, *_pair_params(issued), *self._event(event))
        (written,) = await self._execute(REDEEM, params)
        return bool(written)

    async def revoke_code_tokens(self, grant_code_hash, event, now):
        pool = await self.backends.pool()
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(FAMILIES_OF_CODE, (grant_code_hash,))
            families = [family for (family,) in await cursor.fetchall()]
            cursor = await conn.execute(
                _REVOKE_MEMBERS, (families, grant_code_hash, now, now, grant_code_hash, now, now)
            )
            rows = await cursor.fetchall()
            own = sum(1 for _, _, bound in rows if bound == grant_code_hash)
            details = {**event.details, "tokens_revoked": own}
            event = Event(event.action, event.outcome, event.actor, event.target, details)
            await conn.execute(INSERT_EVENT, self._event(event))
        return [(jti, expires) for jti, expires, _ in rows]

    # --- refresh tokens -------------------------------------------------------------
    async def load_refresh(self, checksum):
        row = await self._execute(LOAD_REFRESH, (checksum,))
        if row is None:
            return None
        application = Application(pk=row[1], client_id=row[2], name=row[3], client_type=row[4])
        return RefreshRecord(
            id=row[0],
            application_id=row[1],
            application=application,
            created=row[5],
            revoked=row[6],
            token_family=row[7],
            grant_code_hash=row[8],
            family_started=row[9],
            access_token_id=row[10],
            access_token_scope=row[11],
            access_token_expires=row[12],
            resource=list(row[13] or []),
            user=_user(row[14:]),
        )

    async def rotate_refresh(self, record, issued, event, now):
        params = (
            now,
            now,
            record.id,
            now,
            now,
            record.access_token_id,
            *_pair_params(issued),
            *self._event(event),
        )
        written, jti, expires = await self._execute(ROTATE, params)
        if not written:
            return None
        return [(jti, expires)] if jti is not None else []

    async def revoke_family(self, token_family, event, now):
        pool = await self.backends.pool()
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                _REVOKE_MEMBERS, ([token_family], "-", now, now, "-", now, now)
            )
            rows = await cursor.fetchall()
            await conn.execute(INSERT_EVENT, self._event(event))
        return [(jti, expires) for jti, expires, _ in rows]
