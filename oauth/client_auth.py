"""Client authentication at the token, revocation and introspection endpoints.

Plain functions over a Django request, so DOT's views (through the validator)
and native handlers share one implementation: ``client_secret_basic``,
``client_secret_post``, ``none`` for public clients and ``private_key_jwt``
(RFC 7523). Client secrets are 256-bit random values hashed with a fast keyed
hash (oauth/hashers.py), so checking one costs microseconds, not an Argon2 run.

Failed authentications are counted per (client_id, address) and per address
over a sliding window (common/ratelimit.py, failing open when the cache is
down); past ``AUTHSITE_CLIENT_AUTH_FAILURES_PER_*`` the source gets
``common.exceptions.ThrottledError`` (scope ``client_auth``), answered 429
with ``Retry-After`` by the OAuth endpoints (oauth/errors.py), before its
secret is looked at (OAuth 2.1 §2.4.1, RFC 9700 §2.5). Keying the client
counter by address means an attacker elsewhere can never lock the real
client out. An operator unblocks a source early with ``ratelimit.reset`` on
``client-auth:<client_id>|<address>`` and ``client-auth-ip:<address>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from django.contrib.auth.hashers import check_password
from django.core.cache import cache

from common import ratelimit
from common.conf import authsite_settings
from common.exceptions import ThrottledError
from common.logging import log_dependency_failure
from common.net import client_ip, resolve_client_ip

# A module import, read at call time: oauth.models imports this module too.
from oauth import models as oauth_models
from oauth.errors import OAuthError as ClientAuthError

logger = logging.getLogger(__name__)

THROTTLE_SCOPE = "client_auth"  # ThrottledError.scope of a refused client authentication
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "ES256", "PS256")
CLIENT_CACHE_SECONDS = 60
# One version for every cached client, shared by all instances: any change to any client
# (save, delete, QuerySet.update(), admin actions) replaces it, and an entry is only served
# while it carries the current version.
CLIENT_CACHE_VERSION_KEY = "authsite:client-version"
# Ids worth a cache entry (DOT generates alphanumeric ones); anything else goes to the database.
_CACHEABLE_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,100}")


def _invalid_client(description: str = "Client authentication failed.") -> ClientAuthError:
    return ClientAuthError("invalid_client", description, status=401)


@dataclass(frozen=True)
class PresentedCredentials:
    client_id: str
    secret: str | None
    method: str  # client_secret_basic | client_secret_post | private_key_jwt | none
    assertion: str | None = None


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """Decode ``Authorization: Basic`` (RFC 6749 §2.3.1: both parts form-urlencoded)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("Malformed HTTP Basic credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("Malformed HTTP Basic credentials.")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


@dataclass(frozen=True)
class ClientRequest:
    """The parts of an HTTP request client authentication looks at."""

    body: Mapping[str, str]
    query: Mapping[str, str]
    authorization: str
    path: str
    client_ip: str = ""

    @classmethod
    def from_django(cls, request) -> ClientRequest:
        return cls(
            body=request.POST,
            query=request.GET,
            authorization=request.headers.get("Authorization", ""),
            path=request.path,
            client_ip=client_ip(request) or "",
        )

    @classmethod
    def from_oauthlib(cls, request) -> ClientRequest:
        headers = request.headers or {}
        authorization = headers.get("HTTP_AUTHORIZATION") or headers.get("Authorization") or ""
        parts = urlsplit(request.uri or "")
        return cls(
            body=dict(request.decoded_body or []),
            query=dict(parse_qsl(parts.query)),
            authorization=authorization,
            path=parts.path,
            # DOT copies request.META into the headers, after the middleware dropped
            # forwarding headers from untrusted peers: the same address results.
            client_ip=resolve_client_ip(dict(headers), _trusted_proxies()),
        )


def _trusted_proxies() -> tuple[str, ...]:
    return tuple(authsite_settings.TRUSTED_PROXIES)


def presented_credentials(request: ClientRequest) -> PresentedCredentials | None:
    """What the client presented, or None; conflicting methods are an ``invalid_request``."""
    if "client_secret" in request.query or "client_assertion" in request.query:
        raise ClientAuthError(
            "invalid_request", "Client credentials must not be sent in the request URI."
        )
    body = request.body
    basic = basic_credentials(request.authorization)
    assertion = body.get("client_assertion")
    methods = [
        name
        for name, present in (
            ("client_secret_basic", basic is not None),
            ("client_secret_post", "client_secret" in body),
            ("private_key_jwt", assertion is not None),
        )
        if present
    ]
    if len(methods) > 1:
        raise ClientAuthError(
            "invalid_request", "Use exactly one client authentication method per request."
        )
    if basic is not None:
        client_id, secret = basic
        if body.get("client_id") not in (None, client_id):
            raise ClientAuthError("invalid_request", "client_id does not match the credentials.")
        return PresentedCredentials(client_id, secret, "client_secret_basic")
    if assertion is not None:
        if body.get("client_assertion_type") != JWT_BEARER_ASSERTION:
            raise ClientAuthError(
                "invalid_request", f"client_assertion_type must be {JWT_BEARER_ASSERTION}."
            )
        client_id = body.get("client_id") or _unverified_issuer(assertion)
        return PresentedCredentials(client_id, None, "private_key_jwt", assertion)
    client_id = body.get("client_id")
    if not client_id:
        return None
    if "client_secret" in body:
        return PresentedCredentials(client_id, body["client_secret"], "client_secret_post")
    return PresentedCredentials(client_id, None, "none")


def _unverified_issuer(assertion: str) -> str:
    try:
        token = jws.JWS()
        token.deserialize(assertion)
        claims = json.loads(token.objects["payload"])
        return str(claims["iss"])
    except (JWException, ValueError, KeyError, TypeError, RecursionError):  # deep nesting
        raise _invalid_client("The client assertion is malformed.") from None


def client_cache_key(client_id: str) -> str:
    return f"authsite:client:{client_id}"


def load_client(client_id: str):
    """The Application with this ``client_id``, or None; cached for a minute.

    An entry is stored with the client-cache version read *before* the
    database, and served only while that version is current: every change
    path (``save()``, ``delete()``, ``QuerySet.update()``, ``bulk_update()``,
    admin actions; see oauth/models.py and oauth/receivers.py) replaces the
    version, so a new secret or redirect URI applies at once on every
    instance, and a read that straddled a change cannot put the old row back.
    Checking costs nothing extra: version and entry come in one ``get_many``.
    Unknown ids are not cached. When the cache raises, the database answers.
    """
    if not client_id or len(client_id) > 100:
        return None
    key = client_cache_key(client_id) if _CACHEABLE_CLIENT_ID.fullmatch(client_id) else None
    version = None
    if key is not None:
        try:
            found = cache.get_many([CLIENT_CACHE_VERSION_KEY, key])
        except Exception as exc:
            _cache_failed("read", exc)
            key = None
        else:
            version = found.get(CLIENT_CACHE_VERSION_KEY)
            entry = found.get(key)
            if (
                isinstance(entry, tuple)
                and len(entry) == 2
                and entry[0] == version
                and isinstance(entry[1], oauth_models.Application)
            ):
                return entry[1]
    application = oauth_models.Application.objects.filter(client_id=client_id).first()
    if application is not None and key is not None:
        try:
            cache.set(key, (version, application), CLIENT_CACHE_SECONDS)
        except Exception as exc:
            _cache_failed("write", exc)
    return application


def forget_clients() -> None:
    """Make every cached client stale, on every instance (after any change to a client).

    Callers run it at the change and again after commit: a request that read
    the old row before the commit must not keep serving it.
    """
    try:
        cache.set(CLIENT_CACHE_VERSION_KEY, secrets.token_hex(8), None)
    except Exception as exc:  # entries expire by themselves within CLIENT_CACHE_SECONDS
        _cache_failed("invalidation", exc)


def forget_client(client_id: str) -> None:
    """Make the next ``load_client`` read the database (after a save or a delete)."""
    forget_clients()


def _cache_failed(operation: str, exc: Exception) -> None:
    log_dependency_failure(
        logger,
        f"client cache {operation}",
        "client cache unavailable (%s), using the database: %s",
        operation,
        type(exc).__name__,
    )


def allowed_method(application) -> str:
    """The one authentication method this client registered (public clients: ``none``)."""
    if application.client_type == application.CLIENT_PUBLIC:
        return application.AUTH_NONE
    return application.token_endpoint_auth_method or ""


def _pair_key(client_id: str, client_ip: str) -> str:
    return f"client-auth:{client_id}|{client_ip}"


def _address_key(client_ip: str) -> str:
    return f"client-auth-ip:{client_ip}"


def _throttles(creds: PresentedCredentials, client_ip: str) -> list[tuple[str, int, str]]:
    """(rate-limit key, limit, what it covers in a log line) for this source."""
    throttles = [
        (
            _pair_key(creds.client_id, client_ip),
            authsite_settings.CLIENT_AUTH_FAILURES_PER_CLIENT,
            f"client {creds.client_id[:100]!r} from {client_ip or 'an unknown address'}",
        )
    ]
    if client_ip:  # an unknown address must not put every client in one bucket
        throttles.append(
            (
                _address_key(client_ip),
                authsite_settings.CLIENT_AUTH_FAILURES_PER_IP,
                f"every client from {client_ip}",
            )
        )
    return throttles


def throttle_limits(client_id: str, client_ip: str) -> list[tuple[str, int]]:
    """The (rate-limit key, limit) pairs that throttle a secret presented for ``client_id``
    from ``client_ip`` (the native fast path peeks them, oauth/fastpath/clients.py)."""
    creds = PresentedCredentials(client_id, None, "client_secret_basic")
    return [(key, limit) for key, limit, _ in _throttles(creds, client_ip)]


def _guessable(creds: PresentedCredentials | None) -> bool:
    """Only a secret or an assertion can be guessed; a public client has nothing to throttle."""
    return creds is not None and creds.method != "none"


def check_throttle(creds: PresentedCredentials | None, client_ip: str) -> None:
    """Raise ThrottledError (429) if this source failed too often in the sliding window.

    Runs before the secret is checked, so a locked-out source learns nothing,
    not even from the right secret. Parallel requests may each pass this
    check and fail, so a burst can overshoot the limit by its concurrency.
    """
    if not _guessable(creds):
        return
    window = authsite_settings.CLIENT_AUTH_FAILURE_WINDOW_SECONDS
    refused = [
        result
        for key, limit, _ in _throttles(creds, client_ip)
        if not (result := ratelimit.peek(key, limit=limit, window_seconds=window)).allowed
    ]
    if refused:
        raise ThrottledError(
            "Too many failed client authentications; retry later.",
            retry_after=max(result.retry_after for result in refused),
            scope=THROTTLE_SCOPE,
        )


def record_failure(creds: PresentedCredentials | None, client_ip: str) -> None:
    """Count a failed authentication against the (client, address) pair and the address."""
    if not _guessable(creds):
        return
    window = authsite_settings.CLIENT_AUTH_FAILURE_WINDOW_SECONDS
    for key, limit, covered in _throttles(creds, client_ip):
        result = ratelimit.hit(key, limit=limit, window_seconds=window)
        if result.count == limit:  # once per lockout, not once per refused request
            logger.warning(
                "%d failed client authentications: %s refused for %ss",
                limit,
                covered,
                result.retry_after,
            )


def precheck(request: ClientRequest) -> None:
    """What ``authenticate`` refuses before any secret is looked at: conflicting methods
    (``invalid_request``) and a throttled source (429). The token view runs it before DOT,
    whose validator can only answer 401."""
    check_throttle(presented_credentials(request), request.client_ip)


def authenticate(request: ClientRequest, *, require_confidential: bool = False):
    """Authenticate the calling client; return its Application or raise ClientAuthError.

    Every failure is ``invalid_client`` (401) with one message, so the
    response never says whether a client id exists; a source that failed too
    often gets ThrottledError (429) instead, before its secret is checked.
    """
    creds = presented_credentials(request)
    if creds is None:
        raise _invalid_client("Client authentication is required.")
    check_throttle(creds, request.client_ip)
    try:
        return _verify(creds, request, require_confidential=require_confidential)
    except ClientAuthError as exc:
        if exc.error == "invalid_client":
            record_failure(creds, request.client_ip)
        raise


def _verify(creds: PresentedCredentials, request: ClientRequest, *, require_confidential: bool):
    application = load_client(creds.client_id)
    if application is None:
        raise _invalid_client()
    registered = allowed_method(application)
    if creds.method == "none":
        if registered != application.AUTH_NONE or require_confidential:
            raise _invalid_client()
        return application
    if registered == application.AUTH_NONE:
        raise _invalid_client()
    if creds.method == "private_key_jwt":
        if registered != application.AUTH_PRIVATE_KEY_JWT:
            raise _invalid_client()
        verify_client_assertion(application, creds.assertion, request)
        return application
    if registered not in ("", creds.method):
        raise _invalid_client()
    if not application.client_secret or not check_password(
        creds.secret or "", application.client_secret
    ):
        raise _invalid_client()
    return application


def verify_client_assertion(application, assertion: str, request: ClientRequest) -> None:
    """RFC 7523 §3: a registered key signed it; iss = sub = client_id; aud is us; fresh, unused."""
    try:
        keyset = jwk.JWKSet.from_json(json.dumps(application.jwks or {"keys": []}))
        token = jws.JWS()
        token.deserialize(assertion)
        header = token.jose_header
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise _invalid_client("The client assertion's algorithm is not accepted.")
        kid = header.get("kid")
        candidates = [k for k in keyset["keys"] if kid is None or k.get("kid") == kid]
        for key in candidates:
            try:
                token.verify(key, alg=header["alg"])
                break
            except JWException:
                continue
        else:
            raise _invalid_client("The client assertion's signature does not verify.")
        claims = json.loads(token.payload)
    except ClientAuthError:
        raise
    except (JWException, ValueError, KeyError, TypeError, RecursionError):
        raise _invalid_client("The client assertion is malformed.") from None
    now = time.time()
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    accepted = {authsite_settings.PUBLIC_URL, authsite_settings.PUBLIC_URL + request.path}
    if claims.get("iss") != application.client_id or claims.get("sub") != application.client_id:
        raise _invalid_client("The client assertion's iss and sub must be the client_id.")
    if not accepted.intersection(audiences):
        raise _invalid_client("The client assertion's audience is not this server.")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now or exp > now + 3600:
        raise _invalid_client("The client assertion is expired or lives too long.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _invalid_client("The client assertion needs a jti.")
    # Single use (RFC 7523 §3 item 7): remembered until it would expire anyway.
    key = f"authsite:assertion-jti:{application.client_id}:{jti}"
    try:
        first_use = cache.add(key, 1, int(exp - now) + 1)
    except Exception as exc:  # the assertion's short exp still bounds a replay
        log_dependency_failure(
            logger,
            "client assertion replay check",
            "cache unavailable, client assertion replay check skipped: %s",
            type(exc).__name__,
        )
        first_use = True
    if not first_use:
        raise _invalid_client("The client assertion was already used.")
