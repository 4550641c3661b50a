"""OIDC userinfo (OIDC Core §5.3) for our JWT access tokens, natively.

The answer is oauth/views.py ``UserInfoView``'s, for what this module can prove:

- The token is presented as Django's view reads it (``presented_bearer_token``):
  ``Authorization: Bearer <token>`` on a GET or POST (RFC 6750 §2.1), or
  ``access_token`` in a form-encoded POST body (§2.2), never both, no query
  string. No credentials at all is the same bare challenge (§3.1).
- The token verifies as on every fast path (oauth/fastpath/access_tokens.py,
  the checks of ``oauth.validators.load_access_token``); the deny list is read
  in one ``MGET``, then the token's row joined with its user in ONE query
  (the row knows revocations when Redis is down or was flushed, so a revoked
  token is never accepted).
- The row decides as DOT and the validator do: revoked or expired is
  ``invalid_token``; a live token without ``openid`` is ``insufficient_scope``;
  a deactivated user is ``invalid_token``; otherwise the claims the row's
  scopes release, built by ``oauth.claims.userinfo``, the function the
  validator's ``get_userinfo_claims`` calls.
- Every answer carries what ``never_cache`` gives Django's (``Expires`` and its
  ``Cache-Control``); the router adds the request id and security headers.
  Django's view records no audit event and sends no CORS headers; nor does this.

Declined to Django: HEAD and other methods, a query string, another scheme or
a malformed header, a repeated header or parameter, another body, a token that
does not verify (expired, altered, unknown ``kid``, opaque), a token with no
row or no user.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date

from oauth import claims, errors
from oauth.fastpath import access_tokens
from oauth.fastpath.http import FORM_CONTENT_TYPE, Response
from oauth.models import AccessToken

# A compact JWS: three base64url segments. Any other credential is Django's to judge.
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_FORM_PARAMETERS = frozenset({"access_token"})
# No credentials: Django's view answers the bare challenge.
NO_TOKEN = ""

_PROFILE = ("is_active", "uuid", "username", "email", "email_verified", "first_name", "last_name")


def _row_query(with_roles: bool) -> str:
    """The token's row joined with its user's profile (and group names for ``roles``)."""
    user_model = get_user_model()
    column = {name: user_model._meta.get_field(name).column for name in _PROFILE}
    selected = ", ".join(f'u."{column[name]}"' for name in _PROFILE)
    roles = ""
    if with_roles:
        through = user_model.groups.through._meta
        roles = (
            f', ARRAY(SELECT g."{Group._meta.get_field("name").column}" '  # noqa: S608
            f'FROM "{Group._meta.db_table}" g JOIN "{through.db_table}" ug '
            f'ON ug."{through.get_field("group").column}" = g."{Group._meta.pk.column}" '
            f'WHERE ug."{through.get_field("user").column}" = u."{user_model._meta.pk.column}")'
        )
    return (
        f"SELECT t.revoked, t.expires, t.scope, t.user_id, {selected}{roles} "  # noqa: S608
        f'FROM "{AccessToken._meta.db_table}" t '
        f'LEFT JOIN "{user_model._meta.db_table}" u '
        f'ON u."{user_model._meta.pk.column}" = t.user_id WHERE t.jti = %s'
    )


def presented_token(request) -> str | None:
    """The token as ``oauth.views.presented_bearer_token`` reads it, :data:`NO_TOKEN`
    when the request carries no credentials, or None when Django should judge."""
    if (
        request.method not in ("GET", "POST")
        or request.query
        or "authorization" in request.repeated
    ):
        return None
    in_body = None
    if request.method == "POST":
        if request.body:
            form = request.form(_FORM_PARAMETERS)
            if form is None:
                return None
            in_body = form.get("access_token")
        elif "content-type" in request.headers and (
            request.headers["content-type"] != FORM_CONTENT_TYPE
            or "content-type" in request.repeated
        ):
            return None
    authorization = request.header("authorization")
    if authorization is not None:
        if in_body is not None:
            return None  # two places: Django's invalid_request
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
    elif in_body is not None:
        token = in_body
    else:
        return NO_TOKEN
    return token if _JWT.fullmatch(token) and access_tokens.looks_like_jwt(token) else None


class Endpoint:
    def __init__(self, backends) -> None:
        self.backends = backends
        self.queries = {with_roles: _row_query(with_roles) for with_roles in (False, True)}
        probe = HttpResponse()
        add_never_cache_headers(probe)  # the view's decorator: the same Cache-Control
        self.cache_control = probe["Cache-Control"]
        self._expires = (0, "")

    def headers(self, *extra) -> list[tuple[str, str]]:
        now = int(time.time())
        if self._expires[0] != now:
            self._expires = (now, http_date(now))
        return [
            ("Content-Type", "application/json"),
            ("Expires", self._expires[1]),
            ("Cache-Control", self.cache_control),
            *extra,
        ]

    def error(self, status: int, error: str, description: str, **kwargs) -> Response:
        document, challenge = errors.bearer_error(error, description, **kwargs)
        return Response(
            status, json.dumps(document).encode(), self.headers(("WWW-Authenticate", challenge))
        )

    async def handle(self, request) -> Response | None:
        token = presented_token(request)
        if token is None:
            return None
        if token == NO_TOKEN:
            return Response(401, b"{}", self.headers(("WWW-Authenticate", errors.BEARER_CHALLENGE)))
        token_claims = await access_tokens.verify(token)
        if token_claims is None:
            return None
        jti = access_tokens.jti_of(token_claims)
        if jti is None:
            return None
        if await access_tokens.denied(self.backends, jti, "userinfo"):
            return self.error(401, "invalid_token", errors.INVALID_TOKEN_DESCRIPTION)
        scope = token_claims.get("scope")
        with_roles = isinstance(scope, str) and "roles" in scope.split()
        row = await self.backends.fetchone(self.queries[with_roles], (jti,))
        if row is None:
            return None  # no row: Django's answer
        revoked, expires, granted, user_id, is_active, *profile = row
        scopes = granted.split()
        if revoked is not None or expires is None or expires <= datetime.now(UTC):
            return self.error(401, "invalid_token", errors.INVALID_TOKEN_DESCRIPTION)
        if "openid" not in scopes:
            return self.error(
                403, "insufficient_scope", errors.LACKS_OPENID_DESCRIPTION, scope="openid"
            )
        if user_id is None:
            return None  # a client's token with openid: Django's answer
        if not is_active:
            return self.error(401, "invalid_token", errors.INVALID_TOKEN_DESCRIPTION)
        if "roles" in scopes and not with_roles:
            return None  # the row grants roles the token does not name: Django reads them
        public_id, username, email, email_verified, first_name, last_name, *roles = profile
        who = claims.Person(
            public_id=str(public_id),
            username=username,
            email=email,
            email_verified=email_verified,
            first_name=first_name,
            last_name=last_name,
            roles=tuple(roles[0]) if roles else None,
        )
        return Response(200, json.dumps(claims.userinfo(who, scopes)).encode(), self.headers())
