"""Introspection (RFC 7662) of JWT access tokens issued to clients, natively.

The answer is oauth/introspection.py's, for the case this module can prove:
a confidential client authenticated with a secret (oauth/fastpath/clients.py)
asks about a JWT access token that ``oauth.keys.verify_jwt`` accepts (our
key, ``typ`` ``at+jwt``, not expired), minted for a client (``sub`` is the
client, no user, no resource indicator). Revocation is read from the deny list
in ONE ``MGET`` (``revocation.deny_list_keys`` and ``revocation.interpret``);
when that cannot say (Redis down or flushed), the token's row decides, read
through the async pool. A token that is denied, revoked or past its row's
expiry is ``{"active": false}``.

Declined to Django: any other form, hint ``refresh_token``, opaque or refresh
tokens, tokens that do not verify (unknown ``kid``, expired, altered), tokens of
a user, and tokens with no row.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from common.logging import log_dependency_failure
from oauth import keys, revocation, tokens
from oauth.exceptions import InvalidJWT
from oauth.fastpath.backends import call_django
from oauth.fastpath.clients import Clients
from oauth.fastpath.http import NO_STORE, Response
from oauth.models import AccessToken

logger = logging.getLogger(__name__)

PARAMETERS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})
INACTIVE = json.dumps({"active": False}).encode()
_ROW = f"SELECT revoked, expires, user_id FROM {AccessToken._meta.db_table} WHERE jti = %s"  # noqa: S608
_HEADERS = [("Content-Type", "application/json"), *NO_STORE]


class Endpoint:
    def __init__(self, backends, clients: Clients) -> None:
        self.backends = backends
        self.clients = clients

    async def handle(self, request) -> Response | None:
        form = request.form(PARAMETERS, unbounded=("token",))
        if form is None:
            return None
        token = form.get("token")
        if not token or token.count(".") != 2 or len(token) > 8192:
            return None
        if form.get("token_type_hint") not in (None, "access_token"):
            return None
        client = await self.clients.authenticate(request, form)
        if client is None or client.client_type != client.CLIENT_CONFIDENTIAL:
            return None
        try:
            claims = await call_django(keys.verify_jwt, token, expected_typ="at+jwt")
            jti = uuid.UUID(str(claims["jti"]))
        except (InvalidJWT, KeyError, ValueError, TypeError):
            return None
        client_id = claims.get("client_id")
        if (
            not isinstance(client_id, str)
            or claims.get("sub") != client_id
            or claims.get("aud") != client_id
            or "auth_time" in claims
            or not isinstance(claims.get("iat"), int)
            or not isinstance(claims.get("exp"), int)
        ):
            return None  # a user's token, or one with a resource: Django reads the row
        denied = await self.denied(jti)
        if denied is None:
            row = await self.backends.fetchone(_ROW, (jti,))
            if row is None:
                return None
            revoked, expires, user_id = row
            if user_id is not None:
                return None
            denied = revoked is not None or expires <= datetime.now(UTC)
        if denied:
            return Response(200, INACTIVE, list(_HEADERS))
        answer = {
            "active": True,
            "token_type": "Bearer",
            "scope": claims.get("scope", ""),
            "client_id": client_id,
            "exp": claims["exp"],
            "iat": claims["iat"],
            "iss": tokens.issuer(),
            "jti": str(jti),
            "aud": client_id,
            "sub": client_id,
        }
        if not answer["scope"]:
            del answer["scope"]
        return Response(200, json.dumps(answer).encode(), list(_HEADERS))

    async def denied(self, jti: uuid.UUID) -> bool | None:
        """True/False from the deny list, or None when only the row can tell."""
        try:
            values = await self.backends.redis.mget(revocation.deny_list_keys(jti))
        except Exception as exc:
            log_dependency_failure(
                logger,
                "fast path deny list read",
                "deny list unavailable, introspection reads the row: %s",
                type(exc).__name__,
            )
            return None
        return revocation.interpret(values)
