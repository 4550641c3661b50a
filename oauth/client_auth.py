"""Client authentication at the token, revocation and introspection endpoints.

Plain functions over a Django request, so DOT's views (through the validator)
and native handlers share one implementation: ``client_secret_basic``,
``client_secret_post``, ``none`` for public clients and ``private_key_jwt``
(RFC 7523). Client secrets are 256-bit random values hashed with a fast keyed
hash (oauth/hashers.py), so checking one costs microseconds, not an Argon2 run.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from django.contrib.auth.hashers import check_password
from django.core.cache import cache

from authsite.conf import authsite_settings
from oauth.errors import OAuthError as ClientAuthError

logger = logging.getLogger(__name__)

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "ES256", "PS256")


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

    @classmethod
    def from_django(cls, request) -> ClientRequest:
        return cls(
            body=request.POST,
            query=request.GET,
            authorization=request.headers.get("Authorization", ""),
            path=request.path,
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
        )


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
    except (JWException, ValueError, KeyError, TypeError):
        raise _invalid_client("The client assertion is malformed.") from None


def load_client(client_id: str):
    from oauth.models import Application

    if not client_id or len(client_id) > 100:
        return None
    return Application.objects.filter(client_id=client_id).first()


def allowed_method(application) -> str:
    """The one authentication method this client registered (public clients: ``none``)."""
    if application.client_type == application.CLIENT_PUBLIC:
        return application.AUTH_NONE
    return application.token_endpoint_auth_method or ""


def authenticate(request: ClientRequest, *, require_confidential: bool = False):
    """Authenticate the calling client; return its Application or raise ClientAuthError.

    Every failure is ``invalid_client`` (401) with one message, so the
    response never says whether a client id exists.
    """
    creds = presented_credentials(request)
    if creds is None:
        raise _invalid_client("Client authentication is required.")
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
    except (JWException, ValueError, KeyError, TypeError):
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
        logger.warning("cache unavailable, client assertion replay check skipped: %r", exc)
        first_use = True
    if not first_use:
        raise _invalid_client("The client assertion was already used.")
