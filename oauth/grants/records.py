"""What a grant decision reads and what a store writes: plain values, no ORM rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code as stored (``oauth.models.Grant``), with its user."""

    id: int
    code_hash: str  # tokens.checksum(code): what the tokens minted from it are bound to
    application_id: int
    user: object  # accounts.models.User
    scope: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    expires: datetime
    redeemed: datetime | None
    nonce: str = ""
    claims: str = ""
    resource: list = field(default_factory=list)
    auth_time: datetime | None = None
    amr: str = ""
    sid: str = ""


@dataclass(frozen=True)
class RefreshRecord:
    """A refresh token as stored (``oauth.models.RefreshToken``), with its user and the
    access token it is bound to."""

    id: int
    application_id: int
    application: object  # oauth.models.Application (client_id, name, client_type at least)
    user: object
    created: datetime
    revoked: datetime | None
    token_family: uuid.UUID | None
    grant_code_hash: str
    family_started: datetime | None
    access_token_id: int | None
    access_token_scope: str | None
    access_token_expires: datetime | None
    resource: list = field(default_factory=list)


@dataclass(frozen=True)
class NewTokens:
    """The pair a successful grant hands out, and the rows that record it."""

    access_token: str
    refresh_token: str
    jti: uuid.UUID
    scopes: list[str]
    lifetime: int
    created: datetime
    expires: datetime
    application_id: int
    user_id: int
    grant_code_hash: str  # the access token's: the code's hash, "" for a refresh
    token_family: uuid.UUID
    family_grant_code_hash: str
    family_started: datetime
    source_refresh_token_id: int | None = None
    resource: list = field(default_factory=list)
    # The ID token (``openid`` granted): the signed JWT and its IDToken row's values.
    id_token: str | None = None
    id_token_jti: uuid.UUID | None = None
    id_token_expires: datetime | None = None

    def response(self) -> dict:
        """DOT's token response, key for key (oauthlib's ``BearerToken.create_token``)."""
        body = {
            "access_token": self.access_token,
            "expires_in": self.lifetime,
            "token_type": "Bearer",
            "scope": " ".join(self.scopes),
            "refresh_token": self.refresh_token,
        }
        if not body["scope"]:
            del body["scope"]  # as oauth.views.normalise_token_response
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


@dataclass(frozen=True)
class Event:
    """An audit event for the store to write in the same transaction as the change."""

    action: str
    outcome: str
    actor: object
    target: object
    details: dict
