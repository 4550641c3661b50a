"""authsite's one customisation point of django-oauth-toolkit's protocol engine.

Each override calls ``super()`` where DOT's behaviour is kept and delegates
the substance to plain modules (client_auth, tokens, claims, revocation) and
services that native handlers can call too.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta

from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from django.utils import timezone

from common.conf import authsite_settings
from common.exceptions import ThrottledError
from common.logging import current_request_var
from oauth import claims, client_auth, consent, keys, revocation, services, signals, tokens
from oauth.exceptions import ClaimsRequestError, InvalidJWT, OAuthError
from oauth.grants import authorization_code, refresh
from oauth.models import AccessToken, Grant, IDToken, RefreshToken

logger = logging.getLogger(__name__)


# RFC 7636 §4.2: code-challenge = 43*128unreserved (ALPHA / DIGIT / "-" / "." / "_" / "~").
CODE_CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 control (NUL, TAB, LF…), DEL or a C1 control."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def check_authorization_parameters(parameters: list[tuple[str, str]]) -> None:
    """Refuse what oauthlib would let through an authorization request; raise ``OAuthError``.

    The caller has already refused repeated parameters and decides where the
    error goes (the client's redirect URI, or the error page when client_id or
    redirect_uri is not valid). Descriptions never echo a parameter's value.

    - A control character in any parameter name or value: no parameter of this
      endpoint may hold one (``state`` is VSCHAR, RFC 6749 Appendix A.5), and
      NUL cannot even be stored in PostgreSQL (``invalid_request``).
    - ``request`` / ``request_uri``: request objects are not supported
      (RFC 9101 §5, OIDC Core §6.1, §6.2: ``request_not_supported``,
      ``request_uri_not_supported``), rather than silently ignored.
    - ``code_challenge``: 43 to 128 unreserved characters, with the method
      ``S256`` (RFC 7636 §4.2, §4.3; ``plain`` is refused, RFC 9700 §2.1.1).
      A missing challenge is left to oauthlib ("Code challenge required.").
    - ``claims``: a well-formed claims request (OIDC Core §5.5).
    """
    for name, value in parameters:
        if has_control_characters(name) or has_control_characters(value):
            raise OAuthError("invalid_request", "A parameter contains a control character.")
    values = dict(parameters)
    if "request" in values:
        raise OAuthError(
            "request_not_supported", "Request objects (the request parameter) are not supported."
        )
    if "request_uri" in values:
        raise OAuthError("request_uri_not_supported", "The request_uri parameter is not supported.")
    challenge = values.get("code_challenge")
    if challenge is not None:
        if not CODE_CHALLENGE_RE.fullmatch(challenge):
            raise OAuthError(
                "invalid_request",
                "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, "
                "'-', '.', '_' and '~' (RFC 7636 section 4.2).",
            )
        if values.get("code_challenge_method") != "S256":
            raise OAuthError(
                "invalid_request", "code_challenge_method must be S256 (RFC 7636 section 4.3)."
            )
    if "claims" in values:
        try:
            claims.parse_claims_request(values["claims"])
        except ClaimsRequestError as exc:
            raise OAuthError("invalid_request", str(exc)) from None


class AuthsiteOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, **claims.CLAIM_SCOPES}

    # --- clients -------------------------------------------------------------
    def authenticate_client(self, request, *args, **kwargs):
        """client_secret_basic, client_secret_post and private_key_jwt (oauth/client_auth.py)."""
        try:
            application = client_auth.authenticate(
                client_auth.ClientRequest.from_oauthlib(request), require_confidential=True
            )
        except OAuthError as exc:
            if exc.error == "invalid_request":
                raise errors.InvalidRequestError(
                    description=exc.description, request=request
                ) from None
            return False
        except ThrottledError:  # the token view's precheck answers 429; a race lands here
            return False
        request.client = application
        request.client_id = application.client_id
        return True

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        """No default scope for client_credentials: DEFAULT_SCOPES is ``openid``, meaningless
        without a user, so a client that asks for no scope gets none (RFC 6749 §3.3)."""
        if request.grant_type == "client_credentials":
            return []
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Known scopes only, and only those the client may ask for (ASVS 10.4.11);
        never ``openid`` without a user (client_credentials)."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        if request.grant_type == "client_credentials" and "openid" in scopes:
            return False
        allowed = set(client.allowed_scopes.split())
        return not allowed or set(scopes) <= allowed

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        """Only the code flow exists here (RFC 9700 §2.1.2): any other response type is
        ``unsupported_response_type``, not DOT's ``unauthorized_client``, so clients can tell
        a server limit from a registration problem (RFC 6749 §4.1.2.1)."""
        if response_type != "code":
            raise errors.UnsupportedResponseTypeError(request=request)
        return super().validate_response_type(
            client_id, response_type, client, request, *args, **kwargs
        )

    # --- prompt=none (OIDC Core §3.1.2.1) ------------------------------------------
    def validate_silent_login(self, request):
        """The authorization view only runs for a signed-in user (anonymous prompt=none
        requests get ``login_required`` before reaching oauthlib)."""
        django_request = current_request_var.get()
        user = getattr(django_request, "user", None)
        return bool(user is not None and user.is_authenticated)

    def validate_silent_authorization(self, request):
        """Silent only when no consent page would be shown: first-party, or consent to
        exactly these scopes remembered; otherwise ``consent_required``."""
        django_request = current_request_var.get()
        user = getattr(django_request, "user", None)
        if user is None or not user.is_authenticated or request.client is None:
            return False
        return consent.is_remembered(user, request.client, request.scopes or [])

    # --- authorization codes ---------------------------------------------------
    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        signals.code_issued.send(
            sender=type(self),
            client=request.client,
            user=request.user,
            scopes=list(request.scopes or []),
        )
        signed_in = getattr(request, "authsite_sign_in", None) or {}
        if signed_in:
            auth_time = signed_in.get("auth_time")
            Grant.objects.filter(code=code["code"], application=request.client).update(
                sid=signed_in.get("sid", ""),
                amr=" ".join(signed_in.get("amr") or []),
                auth_time=datetime.fromtimestamp(auth_time, tz=UTC) if auth_time else None,
            )

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """Redeem a code exactly once; a verified replay revokes what it minted.

        The code is claimed here with one conditional UPDATE, so of parallel
        redemptions exactly one wins (OAuth 2.1 §4.1.3). A replay revokes the
        tokens only when the caller also proves possession of the PKCE
        verifier (the client is already authenticated at this point), so
        garbage cannot be used to revoke someone's tokens (OAuth 2.1 §7.5.2).
        """
        grant = Grant.objects.filter(code=code, application=client).first()
        if grant is None:
            return False
        if grant.redeemed is not None:
            verifier = getattr(request, "code_verifier", None) or ""
            if authorization_code.verifier_matches(grant, verifier):
                revoked = services.revoke_code_tokens(tokens.checksum(code))
                logger.warning(
                    "authorization code replayed by client %s: %d token(s) revoked",
                    client.client_id,
                    revoked,
                )
                signals.authorization_code_replayed.send(
                    sender=type(self), client=client, user=grant.user, revoked=revoked
                )
            return False
        if grant.is_expired():
            return False
        claimed = Grant.objects.filter(pk=grant.pk, redeemed__isnull=True).update(
            redeemed=timezone.now()
        )
        if not claimed:
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        request.authsite_grant = grant
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        """A code sent with another redirect_uri is ``invalid_grant`` (RFC 6749 §5.2), not
        oauthlib's ``invalid_request``: the request is well formed, the grant does not fit it."""
        if not super().confirm_redirect_uri(
            client_id, code, redirect_uri, client, request, *args, **kwargs
        ):
            raise errors.InvalidGrantError(
                description="redirect_uri does not match the authorization request.",
                request=request,
            )
        return True

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """Nothing to do: validate_code claimed the code; the row stays until it expires."""

    # --- access and refresh tokens -------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        result = super().save_bearer_token(token, request, *args, **kwargs)
        refresh = token.get("refresh_token")
        if request.grant_type == "authorization_code":
            bound = tokens.checksum(request.code)
            AccessToken.objects.filter(
                token_checksum=tokens.checksum(token["access_token"])
            ).update(grant_code_hash=bound)
            if refresh:
                RefreshToken.objects.filter(token_checksum=tokens.checksum(refresh)).update(
                    grant_code_hash=bound, family_started=timezone.now()
                )
        elif request.grant_type == "refresh_token" and refresh:
            previous = getattr(request, "authsite_family", None) or {}
            RefreshToken.objects.filter(token_checksum=tokens.checksum(refresh)).update(
                grant_code_hash=previous.get("grant_code_hash", ""),
                family_started=previous.get("family_started") or timezone.now(),
            )
        signals.token_issued.send(
            sender=type(self),
            client=request.client,
            user=request.user,
            grant_type=request.grant_type,
            scopes=list(request.scopes or []),
        )
        return result

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """DOT's checks (rotation, reuse → family revoked) plus idle and absolute lifetimes."""
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid:
            rt = RefreshToken.objects.filter(
                token_checksum=tokens.checksum(refresh_token), revoked__isnull=False
            ).first()
            if rt is not None and rt.token_family:
                logger.warning(
                    "refresh token reuse detected for client %s: token family revoked",
                    rt.application.client_id if rt.application_id else "-",
                )
                signals.refresh_token_reused.send(
                    sender=type(self), client=rt.application, user=rt.user
                )
            return False
        rt = request.refresh_token_instance
        if rt.user is not None and not rt.user.is_active:
            return False
        now = timezone.now()
        idle, absolute = refresh_token_lifetimes(rt.application)
        started = rt.family_started or rt.created
        if rt.created + idle <= now or started + absolute <= now:
            return False
        request.authsite_family = {
            "family_started": started,
            "grant_code_hash": rt.grant_code_hash,
        }
        return True

    def validate_bearer_token(self, token, scopes, request):
        """A JWT access token: signature, expiry, deny list, then the tracked row."""
        access_token = load_access_token(token)
        if access_token is None or not access_token.is_valid(scopes):
            self._set_oauth2_error_on_request(request, access_token, scopes)
            if access_token is not None and access_token.revoked is not None:
                request.oauth2_error = {
                    "error": "invalid_token",
                    "error_description": "The access token was revoked.",
                }
            return False
        if access_token.user is not None and not access_token.user.is_active:
            request.oauth2_error = {"error": "invalid_token"}
            return False
        request.client = access_token.application
        request.user = access_token.user
        request.scopes = list(access_token.scopes)
        request.access_token = access_token
        return True

    # --- OpenID Connect --------------------------------------------------------
    def get_claim_dict(self, request):
        """``sub`` and the claims the granted scopes release, none of them empty."""
        return claims.userinfo(claims.person(request.user, request.scopes), request.scopes)

    def get_oidc_claims(self, token, token_handler, request):
        """The ID token's user claims: ``sub`` and what the ``claims`` parameter asks for.

        Only the ID token calls this (userinfo has ``get_userinfo_claims``). The
        code flow always issues an access token, so the scope claims are for
        userinfo (OIDC Core §5.4); the client names those it wants in the ID
        token in ``claims.id_token`` (§5.5), and only released ones are added.
        """
        released = self.get_claim_dict(request)
        return {
            "sub": released.pop("sub"),
            **claims.for_id_token(released, getattr(request, "claims", None)),
        }

    def get_userinfo_claims(self, request):
        """``sub`` and every claim the token's scopes release (OIDC Core §5.3.2, §5.4).

        A token without a user (client_credentials, even with ``openid``) has no
        one to describe: ``insufficient_scope`` (RFC 6750 §3.1), not a crash.
        """
        if request.user is None:
            raise errors.InsufficientScopeError(request=request)
        return self.get_claim_dict(request)

    def validate_user_match(self, id_token_hint, scopes, claims_request, request):
        """A ``sub`` requested with a value must be the signed-in user (OIDC Core §5.5.1.1):
        the server must not answer for anyone else, so any other user is ``login_required``."""
        if not super().validate_user_match(id_token_hint, scopes, claims_request, request):
            return False
        wanted = claims.requested_subject(claims_request)
        if wanted is None:
            return True
        user = getattr(current_request_var.get(), "user", None)
        return bool(user is not None and user.is_authenticated and claims.subject(user) == wanted)

    def get_discovery_claims(self, request):
        return ["sub", *claims.STANDARD_CLAIMS]

    def get_id_token_dictionary(self, token, token_handler, request):
        id_claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        lifetime = authsite_settings.ID_TOKEN_LIFETIME_SECONDS
        expiration_time = timezone.now() + timedelta(seconds=lifetime)
        id_claims["exp"] = int(expiration_time.timestamp())
        id_claims["iss"] = tokens.issuer()
        grant = getattr(request, "authsite_grant", None)
        methods = grant.amr.split() if grant is not None and grant.amr else ["pwd"]
        id_claims.update(claims.authentication_context(methods))
        if grant is not None and grant.auth_time is not None:
            id_claims["auth_time"] = int(grant.auth_time.timestamp())
        if grant is not None and grant.sid:
            id_claims["sid"] = grant.sid
        return id_claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        """Sign with the active key for the client's algorithm; the header names its kid."""
        id_claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**id_claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        id_token["jti"] = str(uuid.uuid4())
        signed = tokens.sign(id_token, typ="JWT", algorithm=request.client.algorithm)
        record = IDToken.objects.create(
            user=request.user,
            scope=request.scope or " ".join(request.scopes),
            expires=expiration_time,
            jti=id_token["jti"],
            application=request.client,
        )
        request.access_token = record
        request.id_token = record
        return signed

    def validate_id_token(self, token, scopes, request):
        try:
            id_claims = keys.verify_jwt(token, verify_exp=False)
        except InvalidJWT:
            return False
        record = IDToken.objects.filter(jti=id_claims.get("jti")).first()
        if record is None or not record.allow_scopes(scopes):
            return False
        request.client = record.application
        request.user = record.user
        request.scopes = scopes
        request.access_token = record
        return True

    def get_oidc_issuer_endpoint(self, request):
        return tokens.issuer()


def refresh_token_lifetimes(application) -> tuple[timedelta, timedelta]:
    """(idle, absolute) lifetime of the client's refresh tokens (``oauth.grants.refresh``)."""
    return refresh.lifetimes(application)


def load_access_token(token: str) -> AccessToken | None:
    """The tracked row of a valid JWT access token minted here, or None.

    The signature and ``exp`` are checked first (no database), then the deny
    list (Redis), then the row, which also knows revocations when Redis is down.
    """
    try:
        token_claims = keys.verify_jwt(token, expected_typ="at+jwt")
        jti = uuid.UUID(str(token_claims["jti"]))
    except (InvalidJWT, KeyError, ValueError):
        return None
    if revocation.is_denied(jti):
        return None
    return AccessToken.objects.select_related("application", "user").filter(jti=jti).first()
