"""The two grants as services: load, decide, mint, store, in that order.

A decision never writes; the store writes once per outcome, in one
transaction with its audit event: the issued pair, a spent code, or a
revoked family. Revoked access tokens go on the deny list after that commit.
The caller has authenticated ``client`` and checked it may use the grant
(``allows_grant_type``, ``is_usable``); errors are ``OAuthError`` subclasses
the token endpoint renders as RFC 6749 §5.2 JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

from oauth2_provider.settings import oauth2_settings

from audit.events import Action, Outcome
from oauth import revocation, tokens
from oauth.exceptions import (
    CodeReplayedError,
    InvalidGrantError,
    OAuthError,
    RefreshTokenReusedError,
)
from oauth.grants import authorization_code, refresh
from oauth.grants.records import CodeRecord, Event, NewTokens, RefreshRecord
from oauth.grants.store import GrantStore
from oauth.models import jti_of
from oauth.validators import AuthsiteOAuth2Validator

_validator = AuthsiteOAuth2Validator()


def mint_tokens(
    client,
    user,
    scopes: list[str],
    *,
    grant_type: str,
    now: datetime,
    auth_time: datetime | None,
    grant_code_hash: str,
    token_family: uuid.UUID,
    family_grant_code_hash: str,
    family_started: datetime,
    source_refresh_token_id: int | None = None,
    resource: list | None = None,
    code: CodeRecord | None = None,
) -> NewTokens:
    """Sign the access token (``tokens.mint_access_token``, DOT's generator), draw the
    refresh token (``tokens.generate_refresh_token``) and, for ``openid``, sign the ID
    token as oauthlib and the validator build it: the same claims on both paths."""
    request = SimpleNamespace(
        client=client,
        client_id=client.client_id,
        grant_type=grant_type,
        user=user,
        scopes=scopes,
        scope=None,
        resource=resource or None,
        authsite_grant=code if code is not None else None,
        nonce=(code.nonce or None) if code is not None else None,
        claims=json.loads(code.claims) if code is not None and code.claims else None,
    )
    lifetime = tokens.access_token_lifetime(request)
    access_token = tokens.mint_access_token(request)
    id_token = id_token_jti = id_token_expires = None
    if "openid" in scopes:
        id_token, id_token_jti, id_token_expires = sign_id_token(access_token, request)
    return NewTokens(
        access_token=access_token,
        refresh_token=tokens.generate_refresh_token(request),
        jti=jti_of(access_token),
        scopes=scopes,
        lifetime=lifetime,
        created=now,
        expires=now + timedelta(seconds=lifetime),
        application_id=client.pk,
        user_id=user.pk,
        grant_code_hash=grant_code_hash,
        token_family=token_family,
        family_grant_code_hash=family_grant_code_hash,
        family_started=family_started,
        source_refresh_token_id=source_refresh_token_id,
        resource=list(resource or []),
        id_token=id_token,
        id_token_jti=id_token_jti,
        id_token_expires=id_token_expires,
    )


def sign_id_token(access_token: str, request) -> tuple[str, uuid.UUID, datetime]:
    """The ID token of a token response (OIDC Core §3.1.3.3, §12.2), claim for claim what
    oauthlib's ``add_id_token`` and the validator's ``finalize_id_token`` produce: ``aud``,
    ``iat``, ``nonce`` (the code's), ``at_hash``, then ``get_id_token_dictionary`` (the
    released claims, ``iss``, ``exp``, ``auth_time``, ``amr``/``acr``, ``sid``), a fresh
    ``jti``, signed with the client's algorithm. Returns (JWT, jti, expiry of its row)."""
    id_token = {"aud": request.client_id, "iat": int(time.time())}
    if request.nonce is not None:
        id_token["nonce"] = request.nonce
    digest = hashlib.sha256(access_token.encode()).digest()
    id_token["at_hash"] = base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")
    id_claims, expiration_time = _validator.get_id_token_dictionary(
        {"access_token": access_token}, None, request
    )
    id_token.update(**id_claims)
    jti = uuid.uuid4()
    id_token["jti"] = str(jti)
    signed = tokens.sign(id_token, typ="JWT", algorithm=request.client.algorithm)
    return signed, jti, expiration_time


def issued_event(grant_type: str, client, user, scopes: list[str]) -> Event:
    """``token.issued`` / ``token.refreshed``, as oauth.receivers.audit_token_issued records."""
    action = Action.TOKEN_REFRESHED if grant_type == "refresh_token" else Action.TOKEN_ISSUED
    return Event(
        action,
        Outcome.SUCCESS,
        user or client,
        client,
        {"grant_type": grant_type, "scopes": scopes, "client_id": client.client_id},
    )


async def prepare_redemption(
    store: GrantStore, client, params: dict, now: datetime
) -> tuple[CodeRecord, list[str]]:
    """Load the code and decide; raise the RFC error. Writes nothing: a caller that
    cannot answer an error itself (the fast path hands errors to DOT) may stop here."""
    record = await store.load_code(client.pk, params.get("code") or "")
    scopes = authorization_code.check_redemption(
        client, params, record, now, pkce_required=oauth2_settings.PKCE_REQUIRED is True
    )
    return record, scopes


async def issue_redemption(
    store: GrantStore, client, record: CodeRecord, scopes: list[str], now: datetime
) -> NewTokens:
    """Mint the pair and store it with the code's claim and ``token.issued``, all at once.

    Raises ``InvalidGrantError`` (nothing written) when the code was claimed in
    between: presented again, that is a replay.
    """
    issued = await store.call(
        mint_tokens,
        client,
        record.user,
        scopes,
        grant_type="authorization_code",
        now=now,
        auth_time=record.auth_time,
        grant_code_hash=record.code_hash,
        token_family=uuid.uuid4(),
        family_grant_code_hash=record.code_hash,
        family_started=now,
        resource=record.resource,
        code=record,
    )
    event = issued_event("authorization_code", client, record.user, scopes)
    if not await store.redeem_code(record, issued, event, now):
        raise InvalidGrantError()
    return issued


async def redeem_code(store: GrantStore, client, params: dict, now: datetime) -> NewTokens:
    """Exchange an authorization code for an access and a refresh token (RFC 6749 §4.1.3).

    Single use: the code is claimed in the same transaction that writes the
    tokens, so of two parallel redemptions one wins and the other is a replay.
    A replay that carries the code's PKCE verifier revokes everything the code
    minted (OAuth 2.1 §4.1.3, §7.5.2; without the verifier, anyone holding a
    leaked code could revoke the victim's tokens) and records ``code.replayed``.
    A code that fails PKCE or the redirect URI is spent all the same.
    """
    try:
        record, scopes = await prepare_redemption(store, client, params, now)
    except CodeReplayedError as exc:
        event = Event(
            Action.CODE_REPLAYED,
            Outcome.FAILURE,
            client,
            exc.user or client,
            {"client_id": client.client_id},
        )
        revoked = await store.revoke_code_tokens(exc.grant_code_hash, event, now)
        await _deny(store, revoked)
        raise
    except OAuthError as exc:
        if getattr(exc, "spends_code", False):
            record = await store.load_code(client.pk, params.get("code") or "")
            await store.spend_code(record, now)
        raise
    return await issue_redemption(store, client, record, scopes, now)


async def prepare_rotation(
    store: GrantStore, client, params: dict, now: datetime
) -> tuple[RefreshRecord, list[str]]:
    """Load the refresh token and decide; raise the RFC error. Writes nothing."""
    record = await store.load_refresh(tokens.checksum(params.get("refresh_token") or ""))
    return record, refresh.check_rotation(client, params, record, now)


async def issue_rotation(
    store: GrantStore, client, record: RefreshRecord, scopes: list[str], now: datetime
) -> NewTokens:
    """Mint the new pair and store it with the old pair's revocation and ``token.refreshed``,
    all at once; the old access token goes on the deny list after the commit.

    Raises ``InvalidGrantError`` (nothing written) when the token was rotated or
    revoked in between: presented again, that is reuse.
    """
    issued = await store.call(
        mint_tokens,
        client,
        record.user,
        scopes,
        grant_type="refresh_token",
        now=now,
        auth_time=None,
        grant_code_hash="",
        token_family=record.token_family or uuid.uuid4(),
        family_grant_code_hash=record.grant_code_hash,
        family_started=refresh.family_started(record),
        source_refresh_token_id=record.id,
        resource=record.resource,
    )
    event = issued_event("refresh_token", client, record.user, scopes)
    revoked = await store.rotate_refresh(record, issued, event, now)
    if revoked is None:
        raise InvalidGrantError()
    await _deny(store, revoked)
    return issued


async def rotate_refresh_token(store: GrantStore, client, params: dict, now: datetime) -> NewTokens:
    """Exchange a refresh token for a new pair in the same family (RFC 6749 §6).

    The presented token is revoked with its access token in the transaction
    that writes the new pair. A token that comes back after that (or after any
    revocation) is reuse: the whole family is revoked and ``refresh_token.reused``
    recorded (RFC 9700 §4.14.2).
    """
    try:
        record, scopes = await prepare_rotation(store, client, params, now)
    except RefreshTokenReusedError as exc:
        owner = exc.application  # as the validator reports it: the family's client
        event = Event(
            Action.REFRESH_TOKEN_REUSED,
            Outcome.FAILURE,
            owner,
            exc.user or owner,
            {"client_id": owner.client_id, "family_revoked": True},
        )
        revoked = await store.revoke_family(exc.token_family, event, now)
        await _deny(store, revoked)
        raise
    return await issue_rotation(store, client, record, scopes, now)


async def _deny(store: GrantStore, revoked) -> None:
    if revoked:
        await store.call(revocation.deny, revoked)
