"""The grant store on Django's ORM: for synchronous callers (DOT's validator) and tests."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from django.db import models, transaction

from audit.services import record as record_event
from oauth import tokens
from oauth.grants.records import CodeRecord, Event, NewTokens, RefreshRecord
from oauth.models import AccessToken, Grant, IDToken, RefreshToken


def _write_event(event: Event) -> None:
    record_event(
        event.action,
        outcome=event.outcome,
        actor=event.actor,
        target=event.target,
        details=event.details,
    )


def _revoke_access(queryset, now) -> list:
    rows = list(queryset.filter(revoked__isnull=True).values_list("pk", "jti", "expires"))
    AccessToken.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(revoked=now, updated=now)
    return rows


class OrmGrantStore:
    """``GrantStore`` on the ORM; each method runs in one ``transaction.atomic``."""

    async def call(self, function, *args, **kwargs):
        return await sync_to_async(function)(*args, **kwargs)

    # --- codes ---------------------------------------------------------------------
    async def load_code(self, application_id, code):
        return await sync_to_async(self._load_code)(application_id, code)

    def _load_code(self, application_id, code):
        grant = (
            Grant.objects.select_related("user")
            .filter(code=code, application_id=application_id)
            .first()
        )
        if grant is None:
            return None
        return CodeRecord(
            id=grant.pk,
            code_hash=tokens.checksum(code),
            application_id=grant.application_id,
            user=grant.user,
            scope=grant.scope,
            redirect_uri=grant.redirect_uri,
            code_challenge=grant.code_challenge,
            code_challenge_method=grant.code_challenge_method,
            expires=grant.expires,
            redeemed=grant.redeemed,
            nonce=grant.nonce,
            claims=grant.claims,
            resource=list(grant.resource or []),
            auth_time=grant.auth_time,
            amr=grant.amr,
            sid=grant.sid,
        )

    async def spend_code(self, record, now):
        return await sync_to_async(self._spend_code)(record, now)

    def _spend_code(self, record, now):
        return bool(Grant.objects.filter(pk=record.id, redeemed__isnull=True).update(redeemed=now))

    async def redeem_code(self, record, tokens_, event, now):
        return await sync_to_async(self._redeem_code)(record, tokens_, event, now)

    def _redeem_code(self, record, issued: NewTokens, event, now):
        with transaction.atomic():
            if not self._spend_code(record, now):
                return False
            access = self._create_pair(issued)
            del access
            _write_event(event)
        return True

    def _create_pair(self, issued: NewTokens) -> AccessToken:
        id_token = None
        if issued.id_token is not None:
            id_token = IDToken.objects.create(
                jti=issued.id_token_jti,
                expires=issued.id_token_expires,
                scope=" ".join(issued.scopes),
                application_id=issued.application_id,
                user_id=issued.user_id,
            )
        access = AccessToken.objects.create(
            id_token=id_token,
            token="",
            token_checksum=tokens.checksum(issued.access_token),
            expires=issued.expires,
            scope=" ".join(issued.scopes),
            resource=issued.resource,
            created=issued.created,
            jti=issued.jti,
            grant_code_hash=issued.grant_code_hash,
            user_id=issued.user_id,
            application_id=issued.application_id,
            source_refresh_token_id=issued.source_refresh_token_id,
        )
        RefreshToken.objects.create(
            token="",
            token_checksum=tokens.checksum(issued.refresh_token),
            token_family=issued.token_family,
            resource=issued.resource,
            grant_code_hash=issued.family_grant_code_hash,
            family_started=issued.family_started,
            access_token=access,
            application_id=issued.application_id,
            user_id=issued.user_id,
        )
        return access

    async def revoke_code_tokens(self, grant_code_hash, event, now):
        return await sync_to_async(self._revoke_code_tokens)(grant_code_hash, event, now)

    def _revoke_code_tokens(self, grant_code_hash, event, now):
        with transaction.atomic():
            own = _revoke_access(AccessToken.objects.filter(grant_code_hash=grant_code_hash), now)
            families = set(
                RefreshToken.objects.filter(grant_code_hash=grant_code_hash)
                .exclude(token_family=None)
                .values_list("token_family", flat=True)
            )
            members = RefreshToken.objects.filter(
                models.Q(token_family__in=families) | models.Q(grant_code_hash=grant_code_hash)
            )
            minted = _revoke_access(
                AccessToken.objects.filter(
                    models.Q(pk__in=members.values("access_token_id"))
                    | models.Q(source_refresh_token__in=members)
                ),
                now,
            )
            members.filter(revoked__isnull=True).update(revoked=now, updated=now)
            _write_event(_with(event, tokens_revoked=len(own)))
        return [(jti, expires) for _, jti, expires in own + minted]

    # --- refresh tokens -------------------------------------------------------------
    async def load_refresh(self, checksum):
        return await sync_to_async(self._load_refresh)(checksum)

    def _load_refresh(self, checksum):
        rt = (
            RefreshToken.objects.filter(token_checksum=checksum)
            .select_related("access_token", "user", "application")
            .order_by(models.F("revoked").desc(nulls_first=True))
            .first()
        )
        if rt is None:
            return None
        access = rt.access_token
        return RefreshRecord(
            id=rt.pk,
            application_id=rt.application_id,
            application=rt.application,
            user=rt.user,
            created=rt.created,
            revoked=rt.revoked,
            token_family=rt.token_family,
            grant_code_hash=rt.grant_code_hash,
            family_started=rt.family_started,
            access_token_id=rt.access_token_id,
            access_token_scope=access.scope if access else None,
            access_token_expires=access.expires if access else None,
            resource=list(rt.resource or []),
        )

    async def rotate_refresh(self, record, tokens_, event, now):
        return await sync_to_async(self._rotate_refresh)(record, tokens_, event, now)

    def _rotate_refresh(self, record, issued, event, now):
        with transaction.atomic():
            if not RefreshToken.objects.filter(pk=record.id, revoked__isnull=True).update(
                revoked=now, updated=now, access_token=None
            ):
                return None
            revoked = _revoke_access(AccessToken.objects.filter(pk=record.access_token_id), now)
            self._create_pair(issued)
            _write_event(event)
        return [(jti, expires) for _, jti, expires in revoked]

    async def revoke_family(self, token_family, event, now):
        return await sync_to_async(self._revoke_family)(token_family, event, now)

    def _revoke_family(self, token_family, event, now):
        with transaction.atomic():
            members = RefreshToken.objects.filter(token_family=token_family)
            revoked = _revoke_access(
                AccessToken.objects.filter(
                    models.Q(pk__in=members.values("access_token_id"))
                    | models.Q(source_refresh_token__in=members)
                ),
                now,
            )
            members.filter(revoked__isnull=True).update(revoked=now, updated=now)
            _write_event(event)
        return [(jti, expires) for _, jti, expires in revoked]


def _with(event: Event, **details) -> Event:
    return Event(
        event.action, event.outcome, event.actor, event.target, {**event.details, **details}
    )
