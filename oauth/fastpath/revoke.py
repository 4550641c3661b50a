"""Revocation (RFC 7009) of a client's own JWT access token, natively.

``oauth.services.revoke_token`` for the case this module can prove: a
confidential client authenticated with a secret (oauth/fastpath/clients.py)
revokes a JWT access token that ``oauth.keys.verify_jwt`` accepts and that was
issued to that same client without a user. In ONE statement (one transaction)
the row is marked revoked (its bound refresh token too, as the service does)
and the ``token.revoked`` event ``oauth.receivers.audit_token_revoked`` records
is written, only if the row exists; after the commit the jti goes on the deny
list (``oauth.revocation.deny``, as ``revoke_access_tokens`` does on commit),
then the client gets the service's answer: 200, empty, no-store.

Declined to Django: refresh and opaque tokens, a ``refresh_token`` hint, a
token that does not verify (expired included) or belongs to a user or to
another client, a public client, unusual forms, every error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from audit.events import Action, Outcome
from audit.models import AuditEvent
from common import metrics
from oauth import revocation, tokens
from oauth.fastpath import events
from oauth.fastpath.backends import call_django
from oauth.fastpath.clients import Clients, presented_access_token
from oauth.fastpath.http import NO_STORE, Response
from oauth.models import AccessToken, RefreshToken

# Parameters, in order: checksum, application id, now (three times), then the event's columns.
REVOKE = f"""
WITH target AS (
    SELECT id FROM {AccessToken._meta.db_table}
    WHERE token_checksum = %s AND application_id = %s
), revoked AS (
    UPDATE {AccessToken._meta.db_table} SET revoked = %s, updated = %s
    WHERE id IN (SELECT id FROM target) AND revoked IS NULL
    RETURNING jti, expires
), refresh AS (
    UPDATE {RefreshToken._meta.db_table} SET revoked = %s
    WHERE access_token_id IN (SELECT id FROM target) AND revoked IS NULL
), event AS (
    INSERT INTO {AuditEvent._meta.db_table} ({events.COLUMNS})
    SELECT {events.PLACEHOLDERS}
    WHERE EXISTS (SELECT 1 FROM target)
    RETURNING 1
)
SELECT (SELECT count(*) FROM event), revoked.jti, revoked.expires
FROM (SELECT 1) AS one LEFT JOIN revoked ON true
"""  # noqa: S608


class Endpoint:
    def __init__(self, backends, clients: Clients) -> None:
        self.backends = backends
        self.clients = clients

    async def handle(self, request) -> Response | None:
        presented = await presented_access_token(request, self.clients)
        if presented is None:
            return None
        client, token, claims = presented
        if (
            claims.get("client_id") != client.client_id
            or claims.get("sub") != client.client_id
            or "auth_time" in claims
        ):
            return None  # a user's token or another client's: the service decides
        details = {"token_type": "access_token", "client_id": client.client_id}
        event = events.event_row(Action.TOKEN_REVOKED, client, client, details, request)
        now = datetime.now(UTC)
        params = (tokens.checksum(token), client.pk, now, now, now, *event)
        pool = await self.backends.pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(REVOKE, params)
            recorded, jti, expires = await cursor.fetchone()
        if not recorded:
            return None  # no such row (it may be a refresh token's look-alike): Django
        metrics.audit_events_total.labels(Action.TOKEN_REVOKED, Outcome.SUCCESS).inc()
        if jti is not None:
            await call_django(revocation.deny, [(jti, expires)])
        return Response(200, b"", [("Content-Type", "text/html; charset=utf-8"), *NO_STORE])
