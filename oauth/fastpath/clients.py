"""Client records per worker, and client authentication as oauth/client_auth.py decides it.

Only the case that can be proved here is handled: ``client_secret_basic`` (the
Basic header, read before the body) or ``client_secret_post``, a confidential
client whose registered method allows it, and a secret stored with authsite's
``ClientSecretHasher``, checked by Django's ``check_password`` in constant
time. Every other case (no credentials, conflicting methods, another scheme,
``private_key_jwt``, a public client, a secret under another hasher, an
unknown client, a wrong secret, a throttled source) returns None and the
request goes to Django, which answers it and counts the failure.

The throttle is the same one: ``common.ratelimit``'s keys and Lua script
(``client_auth.throttle_limits``), both counters peeked in one round trip;
a refused source is declined so Django answers its 429.

Records are ``Application`` instances built from one row, memoised per worker.
Every change to a client (``save``, ``delete``, ``QuerySet.update()``/``delete()``,
admin actions: oauth/models.py, oauth/receivers.py) replaces
``client_auth.CLIENT_CACHE_VERSION_KEY``; the version poller clears this memo
within a second. Without Redis an entry lives at most :data:`MEMO_SECONDS`.
"""

from __future__ import annotations

import logging
import re
import time

from django.contrib.auth.hashers import check_password

from common import ratelimit
from common.conf import authsite_settings
from common.logging import log_dependency_failure
from oauth import client_auth
from oauth.exceptions import OAuthError
from oauth.fastpath import access_tokens
from oauth.hashers import ClientSecretHasher
from oauth.models import Application

logger = logging.getLogger(__name__)

MEMO_SECONDS = 10.0
MEMO_LIMIT = 10_000
# The ids oauth/client_auth.py caches (DOT generates alphanumeric ones); others go to Django.
CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,100}")
SECRET_PREFIX = ClientSecretHasher.algorithm + "$"

_COLUMNS = [field for field in Application._meta.concrete_fields]
_SELECT = "SELECT {} FROM {} WHERE client_id = %s".format(
    ", ".join(f'"{field.column}"' for field in _COLUMNS), Application._meta.db_table
)


class Clients:
    def __init__(self, backends) -> None:
        self.backends = backends
        self.memo: dict[str, tuple[float, Application]] = {}
        backends.watch(client_auth.CLIENT_CACHE_VERSION_KEY, self.forget)

    def forget(self) -> None:
        self.memo = {}

    async def load(self, client_id: str) -> Application | None:
        entry = self.memo.get(client_id)
        now = time.monotonic()
        if entry is not None and now - entry[0] < MEMO_SECONDS:
            return entry[1]
        row = await self.backends.fetchone(_SELECT, (client_id,))
        if row is None:
            return None
        application = Application(
            **{field.attname: value for field, value in zip(_COLUMNS, row, strict=True)}
        )
        application._state.adding = False
        if len(self.memo) >= MEMO_LIMIT:
            self.memo = {}
        self.memo[client_id] = (now, application)
        return application

    async def authenticate(self, request, form: dict) -> Application | None:
        """The confidential client that authenticated with a secret, or None (decline)."""
        if "authorization" in request.repeated:
            return None
        authorization = request.header("authorization")
        if authorization is not None:
            try:
                basic = client_auth.basic_credentials(authorization)
            except OAuthError:
                return None  # malformed Basic: Django's invalid_client
            if basic is None or "client_secret" in form:
                return None  # another scheme, or two methods at once
            client_id, secret = basic
            if form.get("client_id") not in (None, client_id):
                return None
            method = Application.AUTH_CLIENT_SECRET_BASIC
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if not client_id or secret is None:
                return None
            method = Application.AUTH_CLIENT_SECRET_POST
        if not CLIENT_ID.fullmatch(client_id):
            return None
        if self.backends.redis_usable():
            throttles = await ratelimit.apeek_all(
                self.backends.redis,
                client_auth.throttle_limits(client_id, request.client_ip),
                window_seconds=authsite_settings.CLIENT_AUTH_FAILURE_WINDOW_SECONDS,
                on_failure=self.backends.redis_failed,
            )
            if not all(result.allowed for result in throttles):
                return None
        else:  # fails open, as common.ratelimit does while Redis is unavailable
            log_dependency_failure(
                logger,
                "rate limit client-auth",
                "rate limit client-auth not enforced: Redis is unavailable (circuit open)",
            )
        application = await self.load(client_id)
        if application is None or application.client_type != Application.CLIENT_CONFIDENTIAL:
            return None
        if client_auth.allowed_method(application) not in ("", method):
            return None
        stored = application.client_secret
        if not stored.startswith(SECRET_PREFIX) or not check_password(secret, stored):
            return None
        return application


# What introspection and revocation accept: one of our JWT access tokens.
TOKEN_PARAMETERS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})


async def presented_access_token(request, clients: Clients):
    """``(client, token, claims)`` when a confidential client presents one of our JWT
    access tokens with a verified signature, else None (Django answers).

    The shared first step of introspection and revocation: the form, the token's
    shape and hint, client authentication and the signature are decided alike for both.
    """
    form = request.form(TOKEN_PARAMETERS, unbounded=("token",))
    if form is None:
        return None
    token = form.get("token")
    if not access_tokens.looks_like_jwt(token):
        return None
    if form.get("token_type_hint") not in (None, "access_token"):
        return None
    client = await clients.authenticate(request, form)
    if client is None or client.client_type != client.CLIENT_CONFIDENTIAL:
        return None
    claims = await access_tokens.verify(token)
    if claims is None:
        return None
    return client, token, claims
