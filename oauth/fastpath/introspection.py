"""Introspection (RFC 7662) of JWT access tokens issued to clients, natively.

The answer is oauth/introspection.py's, for the case this module can prove:
a confidential client authenticated with a secret (oauth/fastpath/clients.py)
asks about a JWT access token that ``oauth.keys.verify_jwt`` accepts (our
key, ``typ`` ``at+jwt``, not expired, no resource indicator). For a client's
token (``sub`` is the client) revocation is read from the deny list in ONE
``MGET`` (``revocation.deny_list_keys`` and ``revocation.interpret``); when
that cannot say (Redis down or flushed), the token's row decides, read through
the async pool. A user's token always reads its row joined with the user
(revoked, expiry, the user still active, ``sub`` and ``username``). A token
that is denied, revoked, past its row's expiry or of a disabled user is
``{"active": false}``.

Declined to Django: any other form, hint ``refresh_token``, opaque or refresh
tokens, tokens that do not verify (unknown ``kid``, expired, altered), and
tokens with no row.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from oauth import tokens
from oauth.fastpath import access_tokens
from oauth.fastpath.clients import Clients, presented_access_token
from oauth.fastpath.http import NO_STORE, Response
from oauth.models import AccessToken

logger = logging.getLogger(__name__)

INACTIVE = json.dumps({"active": False}).encode()
_ROW = f"SELECT revoked, expires, user_id FROM {AccessToken._meta.db_table} WHERE jti = %s"  # noqa: S608
_HEADERS = [("Content-Type", "application/json"), *NO_STORE]


def _user_row_query() -> str:
    """The token's row with what introspection says about its user (``claims.subject``
    is the public ``uuid``; ``get_username()`` reads ``USERNAME_FIELD``)."""
    user_model = get_user_model()
    username = user_model._meta.get_field(user_model.USERNAME_FIELD).column
    return (
        f"SELECT t.revoked, t.expires, u.is_active, u.uuid, u.{username} "  # noqa: S608
        f"FROM {AccessToken._meta.db_table} t "
        f"JOIN {user_model._meta.db_table} u ON u.id = t.user_id WHERE t.jti = %s"
    )


class Endpoint:
    def __init__(self, backends, clients: Clients) -> None:
        self.backends = backends
        self.clients = clients
        self.user_row = _user_row_query()

    async def handle(self, request) -> Response | None:
        presented = await presented_access_token(request, self.clients)
        if presented is None:
            return None
        client, token, claims = presented
        jti = access_tokens.jti_of(claims)
        if jti is None:
            return None
        client_id = claims.get("client_id")
        if (
            not isinstance(client_id, str)
            or claims.get("aud") != client_id
            or not isinstance(claims.get("iat"), int)
            or not isinstance(claims.get("exp"), int)
        ):
            return None  # a resource indicator, or odd claims: Django reads the row
        if claims.get("sub") != client_id:
            return await self.user_token(token, claims, jti, client_id)
        if "auth_time" in claims:
            return None
        denied = await access_tokens.denied(self.backends, jti, "introspection")
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
        return self.active(claims, jti, client_id, {"sub": client_id})

    async def user_token(self, token, claims, jti, client_id) -> Response | None:
        """A user's token: the row decides (revoked, expired, the user still active) and
        gives ``sub`` and ``username``, as oauth/introspection.py reads them."""
        row = await self.backends.fetchone(self.user_row, (jti,))
        if row is None:
            return None  # no row, or no user: Django
        revoked, expires, is_active, public_id, username = row
        if str(public_id) != claims.get("sub"):
            return None
        if revoked is not None or expires <= datetime.now(UTC) or not is_active:
            return Response(200, INACTIVE, list(_HEADERS))
        return self.active(claims, jti, client_id, {"sub": str(public_id), "username": username})

    @staticmethod
    def active(claims, jti, client_id, subject: dict) -> Response:
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
            **subject,
        }
        if not answer["scope"]:
            del answer["scope"]
        return Response(200, json.dumps(answer).encode(), list(_HEADERS))
