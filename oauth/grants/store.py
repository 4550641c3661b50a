"""The storage a grant service needs, as one small interface.

Two implementations keep the same contract (tests/oauth/test_grant_stores.py
runs one suite against both): ``orm.OrmGrantStore`` on Django's ORM, and
``postgres.PostgresGrantStore`` on the fast path's async psycopg pool. Every
method that changes something does it in one transaction with its audit
event; the ones that revoke access tokens return their ``(jti, expires)`` so
the caller puts them on the deny list after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from oauth.grants.records import CodeRecord, Event, NewTokens, RefreshRecord

Revoked = list[tuple[uuid.UUID, datetime]]


class GrantStore(Protocol):
    async def load_code(self, application_id: int, code: str) -> CodeRecord | None:
        """The code of that value issued to that client, redeemed or not, or None."""

    async def spend_code(self, record: CodeRecord, now: datetime) -> bool:
        """Mark the code redeemed without issuing anything; False if it already was."""

    async def redeem_code(
        self, record: CodeRecord, tokens: NewTokens, event: Event, now: datetime
    ) -> bool:
        """Claim the code and write the access token, the refresh token (a new family
        bound to the code) and ``event``, all or nothing; False (nothing written) when
        the code was claimed first by someone else."""

    async def revoke_code_tokens(
        self, grant_code_hash: str, event: Event, now: datetime
    ) -> Revoked:
        """Revoke every token minted from the code (its access tokens and every refresh
        family that started from it, with their access tokens) and write ``event``;
        ``event.details`` gets ``tokens_revoked``, the code's own access tokens revoked."""

    async def load_refresh(self, checksum: str) -> RefreshRecord | None:
        """The refresh token with that checksum (the live row first, else the latest
        revoked one), with its user and bound access token, or None."""

    async def rotate_refresh(
        self, record: RefreshRecord, tokens: NewTokens, event: Event, now: datetime
    ) -> Revoked | None:
        """Revoke the presented refresh token and its access token, write the new pair in
        the same family and ``event``, all or nothing; None (nothing written) when the
        token was rotated or revoked first by someone else."""

    async def revoke_family(self, token_family: uuid.UUID, event: Event, now: datetime) -> Revoked:
        """Revoke every refresh token of the family and every access token it minted,
        and write ``event``."""

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a synchronous function of the Django side (signing, the deny list)."""
