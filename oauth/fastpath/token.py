"""The token endpoint's success cases, natively: ``client_credentials``, and the
``authorization_code`` and ``refresh_token`` grants through ``oauth.grants``.

The two user grants (``Endpoint.user_grant``) decide with the grant services
(oauth/grants/services.py, held to DOT by the parity suite) and store with
``oauth.grants.postgres``: the code's claim or the old pair's revocation, the
new pair, its family binding and the audit event in ONE statement. Every error
and every case it does not take (resource indicators, public clients,
missing parameters) is declined to DOT before anything is written.

For ``client_credentials``:

What it proves before answering, each as the Django path decides it:
the form (oauth/fastpath/http.py: no duplicates, no empty values, no query,
only ``grant_type``, ``scope``, ``client_id``, ``client_secret``), client
authentication (oauth/fastpath/clients.py), the grant (``allows_grant_type``,
``is_usable``), and the scopes (the validator's own ``get_default_scopes`` and
``validate_scopes``, i.e. DOT's scope backend ``oauth.claims.Scopes``, the
client's ``allowed_scopes``, no ``openid`` without a user). Anything else, and
every error, is declined to DOT.

The token is minted with ``oauth.tokens.sign`` and the claims of
``oauth.tokens.mint_access_token``; its row goes into authsite's AccessToken
table (checksum = ``tokens.checksum``, token column blank as DOT stores it under
RFC 9700 token storage, ``exp`` = the row's ``expires``) together with the
``token.issued`` audit event the Django path records (same actor, target,
details and HMAC, ``audit.integrity.event_digest``), in ONE statement, batched
with concurrent requests (group commit, oauth/fastpath/backends.py). The answer
is sent only after that statement committed, in DOT's exact JSON.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from oauth2_provider.oauth2_validators import GRANT_TYPE_MAPPING

from audit.events import Action, Outcome
from audit.models import AuditEvent
from common import metrics
from oauth import tokens
from oauth.exceptions import OAuthError, SigningKeyUnavailableError, TokenNotStoredError
from oauth.fastpath import events
from oauth.fastpath.backends import Statement, call_django
from oauth.fastpath.clients import Clients
from oauth.fastpath.http import NO_STORE, Response
from oauth.grants import services
from oauth.grants.postgres import PostgresGrantStore
from oauth.models import AccessToken
from oauth.validators import AuthsiteOAuth2Validator

GRANT_TYPE = "client_credentials"
PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})
# The user grants: each with the parameters it may carry and those it must.
CODE_PARAMETERS = frozenset(
    {"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"}
)
REFRESH_PARAMETERS = frozenset(
    {"grant_type", "refresh_token", "scope", "client_id", "client_secret"}
)
REQUIRED = {
    "authorization_code": ("code", "redirect_uri", "code_verifier"),
    "refresh_token": ("refresh_token",),
}
ALLOWED = {"authorization_code": CODE_PARAMETERS, "refresh_token": REFRESH_PARAMETERS}
# scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*")

_validator = AuthsiteOAuth2Validator()

ISSUE = Statement(
    "token rows",
    f"""
    WITH tokens AS (
        INSERT INTO {AccessToken._meta.db_table}
            (token, token_checksum, expires, scope, resource, created, updated, jti,
             grant_code_hash, application_id)
        SELECT '', t.checksum, t.expires, t.scope, '[]'::jsonb, t.created, t.created, t.jti,
               '', t.application_id
        FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::timestamptz[], %s::uuid[],
                    %s::bigint[])
             AS t(checksum, expires, scope, created, jti, application_id)
        RETURNING 1
    )
    INSERT INTO {AuditEvent._meta.db_table} ({events.COLUMNS})
    SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],
                         %s::text[], %s::text[], %s::text[], %s::text[], %s::inet[],
                         %s::text[], %s::text[], %s::jsonb[], %s::uuid[], %s::text[])
    """,
)


def clients_for(backends) -> Clients:
    return Clients(backends)


class Endpoint:
    def __init__(self, backends, clients: Clients) -> None:
        self.backends = backends
        self.clients = clients

    async def handle(self, request) -> Response | None:
        form = request.form(PARAMETERS | CODE_PARAMETERS | REFRESH_PARAMETERS)
        if form is None:
            return None
        grant_type = form.get("grant_type")
        if grant_type in ALLOWED:
            return await self.user_grant(request, form, grant_type)
        if grant_type != GRANT_TYPE or not form.keys() <= PARAMETERS:
            return None
        client = await self.clients.authenticate(request, form)
        if client is None:
            return None
        if not client.allows_grant_type(client.GRANT_CLIENT_CREDENTIALS):
            return None
        if not client.is_usable(None):
            return None
        scopes = granted_scopes(client, form.get("scope"))
        if scopes is None:
            return None
        try:
            issued = await call_django(mint, client, scopes)
        except SigningKeyUnavailableError:
            return None  # Django answers its 503
        event = issuance_event(client, scopes, request)
        try:
            await self.backends.commit(ISSUE, (*issued.row, *event))
        except TokenNotStoredError as exc:
            return Response.json(
                {"error": exc.code, "error_description": exc.message},
                exc.status,
                (*NO_STORE, ("Retry-After", "5")),
            )
        metrics.audit_events_total.labels(Action.TOKEN_ISSUED, Outcome.SUCCESS).inc()
        body = {
            "access_token": issued.token,
            "expires_in": issued.lifetime,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if not scopes:
            del body["scope"]  # as oauth.views.normalise_token_response
        return Response(
            200, json.dumps(body).encode(), [("Content-Type", "application/json"), *NO_STORE]
        )

    async def user_grant(self, request, form: dict, grant_type: str) -> Response | None:
        """``authorization_code`` and ``refresh_token`` through ``oauth.grants.services``.

        Only the success case is answered here. The decision runs first and
        writes nothing; any error it raises (replay, reuse, PKCE, redirect URI,
        scope, lifetimes) declines, and DOT answers it and does what it implies
        (burn the code, revoke the family, audit) exactly as without the fast
        path. Declined as well: a resource-bound grant, an ``openid`` grant of a client
        without an ID token algorithm, and a claim lost to a parallel request
        (which DOT then sees as the replay or reuse it is). The ID token is
        built as oauthlib and the validator build it (``services.sign_id_token``).
        """
        if not form.keys() <= ALLOWED[grant_type]:
            return None
        if any(name not in form for name in REQUIRED[grant_type]):
            return None
        client = await self.clients.authenticate(request, form)
        # DOT's validate_grant_type: which registered grants allow this one.
        if client is None or not client.allows_grant_type(*GRANT_TYPE_MAPPING[grant_type]):
            return None
        if not client.is_usable(None):
            return None
        store = PostgresGrantStore(self.backends, request)
        now = datetime.now(UTC)
        code = grant_type == "authorization_code"
        try:
            if code:
                record, scopes = await services.prepare_redemption(store, client, form, now)
            else:
                record, scopes = await services.prepare_rotation(store, client, form, now)
        except OAuthError:
            return None
        if record.resource:
            return None  # RFC 8707 audiences: DOT's
        if "openid" in scopes and client.algorithm not in ("RS256", "ES256"):
            return None  # no ID token algorithm: DOT says what it says
        try:
            if code:
                issued = await services.issue_redemption(store, client, record, scopes, now)
            else:
                issued = await services.issue_rotation(store, client, record, scopes, now)
        except (OAuthError, SigningKeyUnavailableError):
            return None
        action = Action.TOKEN_ISSUED if code else Action.TOKEN_REFRESHED
        metrics.audit_events_total.labels(action, Outcome.SUCCESS).inc()
        return Response.json(issued.response(), 200, NO_STORE)


def granted_scopes(client, requested: str | None) -> list[str] | None:
    """The scopes DOT would grant, or None when it would refuse or the request is unusual."""
    request = SimpleNamespace(grant_type=GRANT_TYPE, client=client, client_id=client.client_id)
    if requested is None:
        scopes = list(_validator.get_default_scopes(client.client_id, request))
    else:
        if not SCOPE.fullmatch(requested):
            return None
        scopes = requested.split(" ")
        if len(set(scopes)) != len(scopes):
            return None
    if not _validator.validate_scopes(client.client_id, scopes, client, request):
        return None
    return scopes


def mint(client, scopes: list[str]) -> SimpleNamespace:
    """The JWT and its row, with the claims of ``oauth.tokens.mint_access_token`` for a
    client without a user (RFC 9068 §2.2: the client is the subject)."""
    now = int(time.time())
    lifetime = tokens.access_token_lifetime(SimpleNamespace(client=client))
    jti = uuid.uuid4()
    body = {
        "iss": tokens.issuer(),
        "sub": client.client_id,
        "aud": client.client_id,
        "client_id": client.client_id,
        "scope": " ".join(scopes),
        "jti": str(jti),
        "iat": now,
        "exp": now + lifetime,
    }
    if not body["scope"]:
        del body["scope"]
    token = tokens.sign(body, typ="at+jwt", algorithm=tokens.access_token_algorithm())
    created = datetime.fromtimestamp(now, tz=UTC)
    row = (
        tokens.checksum(token),
        created + timedelta(seconds=lifetime),
        " ".join(scopes),
        created,
        jti,
        client.pk,
    )
    return SimpleNamespace(token=token, lifetime=lifetime, row=row)


def issuance_event(client, scopes: list[str], request) -> tuple:
    """The ``token.issued`` event ``oauth.receivers.audit_token_issued`` records."""
    details = {"grant_type": GRANT_TYPE, "scopes": scopes, "client_id": client.client_id}
    return events.event_row(Action.TOKEN_ISSUED, client, client, details, request)
