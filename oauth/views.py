"""The endpoints applications talk to.

Thin on purpose: the authorization and token endpoints run django-oauth-toolkit
with authsite's validator; introspection, revocation, discovery and JWKS call
plain functions (client_auth, introspection, services, discovery, keys) that
native async handlers can share later.
"""

from __future__ import annotations

import hashlib
import json
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauth2_provider.views import AuthorizationView as DOTAuthorizationView
from oauth2_provider.views import RPInitiatedLogoutView
from oauth2_provider.views import TokenView as DOTTokenView
from oauth2_provider.views import UserInfoView as DOTUserInfoView
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from django.http import (
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts.sessions import auth_details, session_id
from common.conf import authsite_settings
from common.exceptions import ThrottledError
from oauth import (
    client_auth,
    consent,
    discovery,
    errors,
    introspection,
    keys,
    services,
    signals,
    tokens,
)
from oauth.errors import (
    BEARER_CHALLENGE,
    INVALID_TOKEN_DESCRIPTION,
    LACKS_OPENID_DESCRIPTION,
    check_form_post,
    error_response,
    no_store,
    safe_description,
)
from oauth.exceptions import OAuthError, SigningKeyUnavailableError
from oauth.validators import (
    check_authorization_parameters,
    has_control_characters,
    load_access_token,
)

# Parameters of an authorization request that must not repeat (RFC 6749 §3.1).
AUTHORIZATION_PARAMETERS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
)


def with_issuer(url: str) -> str:
    """Finish an authorization response URL: add the RFC 9207 ``iss`` parameter, and keep
    ``error_description`` to the characters RFC 6749 §4.1.2.1 allows (oauthlib's own
    descriptions hold quotes, and some name the offending parameter)."""
    parts = urlsplit(url)
    query = [
        (name, safe_description(value) if name == "error_description" else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    if not any(name == "iss" for name, _ in query):
        query.append(("iss", tokens.issuer()))
    return urlunsplit(parts._replace(query=urlencode(query)))


# Hidden field of the consent form (templates/oauth/authorize.html): a POST that carries it
# is the user's answer and is CSRF-checked; any other POST is an authorization request.
CONSENT_FORM_MARKER = "authsite_consent"


def authorization_request_as_get(request) -> None:
    """Turn an authorization request sent by form POST (OIDC Core §3.1.2.1) into the same
    request by GET: query and body parameters become the query string, which is what DOT's
    ``get()`` and oauthlib read, and the body is emptied so oauthlib does not read it twice.
    A login redirect then carries a GET URL in ``next``."""
    parameters = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    parameters += [(name, value) for name, values in request.POST.lists() for value in values]
    request.method = "GET"
    request.META["QUERY_STRING"] = urlencode(parameters)
    request.GET = QueryDict(request.META["QUERY_STRING"])
    request.POST = QueryDict()


def sign_in_too_old(request) -> bool:
    """OIDC max_age: the user signed in longer ago than the client accepts."""
    raw = request.GET.get("max_age")
    if raw is None:
        return False
    try:
        max_age = int(raw)
    except ValueError:
        return False  # oauthlib answers a malformed max_age itself
    auth_time, _methods = auth_details(request.session)
    return auth_time is None or time.time() - auth_time > max_age


def error_destination(parameters) -> tuple | None:
    """(client, redirect URI) when the request names a client and one of its registered
    redirect URIs (or omits it and the client has just one), else None (RFC 6749 §4.1.2.1).

    Checked without oauthlib so that it is safe on any input: a value with a control
    character never reaches the database.
    """
    client_id = parameters.get("client_id") or ""
    if not client_id or has_control_characters(client_id):
        return None
    application = client_auth.load_client(client_id)
    if application is None:
        return None
    redirect_uri = parameters.get("redirect_uri")
    if redirect_uri is None:
        try:
            redirect_uri = application.default_redirect_uri
        except OAuth2Error:
            return None
        return (application, redirect_uri) if redirect_uri else None
    if has_control_characters(redirect_uri) or not application.redirect_uri_allowed(redirect_uri):
        return None
    return application, redirect_uri


def drop_empty_parameters(request) -> None:
    """An empty parameter counts as omitted (OAuth 2.1 §3.1), so ``code_challenge=`` is a
    missing challenge and ``scope=`` the default scopes. oauthlib reads the raw query string,
    hence the rewrite of ``QUERY_STRING`` rather than of ``request.GET``."""
    query = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    kept = [(name, value) for name, value in query if value]
    if len(kept) != len(query):
        request.META["QUERY_STRING"] = urlencode(kept)
        request.GET = QueryDict(request.META["QUERY_STRING"])


def drop_empty_form_parameters(request) -> None:
    """An empty parameter counts as omitted at the token, revocation and introspection
    endpoints too (OAuth 2.1 §3.2): ``code=`` is a missing code (``invalid_request``), not
    a wrong one (``invalid_grant``), ``scope=`` requests no scope and ``client_id=`` beside
    Basic credentials names no client. DOT, oauthlib and client authentication all read
    ``request.POST``, so it is replaced by the non-empty values; repeated parameters were
    refused before (check_form_post), so nothing is hidden by the filtering."""
    if any(not value for _name, values in request.POST.lists() for value in values):
        body = QueryDict(mutable=True)
        for name, values in request.POST.lists():
            if kept := [value for value in values if value]:
                body.setlist(name, kept)
        body._mutable = False
        request.POST = body
    drop_empty_parameters(request)


@method_decorator([never_cache, csrf_exempt], name="dispatch")
class AuthorizationView(DOTAuthorizationView):
    """Authorization endpoint with hosted consent, remembered per user, client and scope set.

    CSRF is checked here rather than by the middleware: only the consent form's POST
    changes anything; an authorization request by POST is exempt, like the same GET.
    """

    template_name = "oauth/authorize.html"
    allowed_methods = ("GET", "POST")

    def dispatch(self, request, *args, **kwargs):
        if request.method not in self.allowed_methods:
            # Before any sign-in redirect: HEAD or PUT is no authorization request, and a HEAD
            # handled as a GET could even issue a code (RFC 9110 §15.5.6).
            response = self.render_error(
                "invalid_request", "Use GET or POST.", status=HTTPStatus.METHOD_NOT_ALLOWED
            )
            response["Allow"] = ", ".join(self.allowed_methods)
            return response
        if request.method == "POST":
            if CONSENT_FORM_MARKER in request.POST:
                return csrf_protect(self.handle_request)(request, *args, **kwargs)
            authorization_request_as_get(request)
            try:
                return self.handle_request(request, *args, **kwargs)
            finally:
                request.method = "POST"  # what the access log and metrics record
        return self.handle_request(request, *args, **kwargs)

    def handle_request(self, request, *args, **kwargs):
        """Refuse repeated parameters, drop empty ones, refuse malformed ones, then run
        DOT's GET or consent POST."""
        for name in AUTHORIZATION_PARAMETERS:
            if len(request.GET.getlist(name)) > 1:
                return self.render_error(
                    "invalid_request", f"The parameter {name} is repeated.", status=400
                )
        drop_empty_parameters(request)
        user = request.user
        silent = "none" in request.GET.get("prompt", "").split()
        # An anonymous browser signs in first (RFC 9700 §4.11.2) and is checked on its way
        # back; prompt=none cannot sign in, so it is checked now.
        if user.is_authenticated or silent:
            refused = self.refuse_malformed(request)
            if refused is not None:
                return refused
        # Relying parties trust the email claim: an unverified account verifies first.
        if (
            authsite_settings.REQUIRE_VERIFIED_EMAIL
            and user.is_authenticated
            and not user.email_verified
        ):
            if silent:
                return self.interaction_required(request)
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('accounts:verify-required')}?{query}")
        if user.is_authenticated and sign_in_too_old(request):
            return self.fresh_sign_in(drop=("max_age",))
        return super().dispatch(request, *args, **kwargs)

    def refuse_malformed(self, request):
        """The error response for a malformed authorization request or consent form, or None.

        See ``oauth.validators.check_authorization_parameters``. Runs before oauthlib
        and the database see the parameters, so a NUL is an error, not a 500 or a
        consent page that cannot be submitted.
        """
        source = request.POST if request.method == "POST" else request.GET
        # An empty value counts as omitted (the browser sends the consent form's empty
        # claims field as claims=); a control character in a name still counts.
        parameters = [
            (name, value)
            for name, values in source.lists()
            for value in values
            if value or has_control_characters(name)
        ]
        try:
            check_authorization_parameters(parameters)
        except OAuthError as exc:
            return self.authorization_error(source, exc.error, exc.description)
        return None

    def authorization_error(self, parameters, error: str, description: str):
        """Send an error to the client's redirect URI with ``state`` and ``iss`` (RFC 6749
        §4.1.2.1, RFC 9207), or show the error page when client_id or redirect_uri is not
        valid: never redirect to a URI the client did not register."""
        destination = error_destination(parameters)
        if destination is None:
            return self.render_error(error, description, status=HTTPStatus.BAD_REQUEST)
        application, redirect_uri = destination
        response = {"error": error, "error_description": description}
        if parameters.get("state"):
            response["state"] = parameters["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return self.redirect(f"{redirect_uri}{separator}{urlencode(response)}", application)

    def get_initial(self):
        """DOT writes a request without ``claims`` into the consent form as the JSON
        ``null``, which is no claims request; leave the field empty instead."""
        initial = super().get_initial()
        if initial.get("claims") == "null":
            initial["claims"] = None
        return initial

    def handle_prompt_login(self):
        return self.fresh_sign_in(drop=("prompt",))

    def fresh_sign_in(self, *, drop: tuple[str, ...]):
        """Send the browser to sign in again even though it has a session (prompt=login,
        max_age), then back to this request without what asked for it, so it does not loop."""
        query = [
            (k, v) for k, v in parse_qsl(self.request.META.get("QUERY_STRING", "")) if k not in drop
        ]
        back = f"{self.request.path}?{urlencode(query)}"
        return HttpResponseRedirect(
            f"{reverse('accounts:login')}?{urlencode({'next': back, 'reauth': '1'})}"
        )

    def interaction_required(self, request):
        """prompt=none cannot show the verification page: tell the client (OIDC Core §3.1.2.6).

        Whatever else the request asks (consent included), the account must be verified
        first, so ``interaction_required`` is the answer; it only ever goes to a
        registered redirect URI, and an invalid one gets the error page instead.
        """
        return self.authorization_error(
            request.GET, "interaction_required", "The account's e-mail address is not verified."
        )

    def render_error(self, error: str, description: str, *, status: int):
        return self.response_class(
            request=self.request,
            template=[self.template_name],
            context={"error": {"error": error, "description": description}},
            status=status,
        )

    def redirect(self, redirect_to, application):
        return super().redirect(with_issuer(redirect_to), application)

    def create_authorization_response(self, request, scopes, credentials, allow):
        auth_time, amr = auth_details(request.session)
        credentials = {
            **credentials,
            "authsite_sign_in": {
                "sid": session_id(request.session),
                "amr": amr,
                "auth_time": auth_time,
            },
        }
        return super().create_authorization_response(request, scopes, credentials, allow)

    def render_to_response(self, context, **response_kwargs):
        """Skip the consent page for first-party clients and for consent already given.

        An error page shows the RFC code and a description in the characters RFC 6749
        §5.2 allows, whether the error is authsite's or oauthlib's.
        """
        if context.get("error") is not None:
            error = context["error"]
            if not isinstance(error, dict):  # an oauthlib error, from DOT's error_response
                error = {
                    "error": getattr(error, "error", ""),
                    "description": getattr(error, "description", ""),
                }
            context["error"] = {
                "error": safe_description(error.get("error") or "invalid_request"),
                "description": safe_description(error.get("description") or ""),
            }
        application = context.get("application")
        form = context.get("form")
        if (
            self.request.method == "GET"
            and application is not None
            and form is not None
            and "error" not in context
        ):
            scopes = context.get("scopes") or []
            asked = "consent" in self.request.GET.get("prompt", "").split()  # ask again
            if not asked and consent.is_remembered(self.request.user, application, scopes):
                form = self.get_form_class()(
                    data={**form.initial, "allow": True, "scope": " ".join(scopes)}
                )
                if form.is_valid():
                    # DOT's form_valid, not ours: nothing new was consented to, so nothing
                    # is remembered or audited again (one consent.granted per consent).
                    return super().form_valid(form)
        return super().render_to_response(context, **response_kwargs)

    def form_valid(self, form):
        if form.cleaned_data.get("allow"):
            application = client_auth.load_client(form.cleaned_data.get("client_id"))
            if application is not None and not application.first_party:
                consent.remember(
                    self.request.user, application, form.cleaned_data.get("scope", "").split()
                )
                signals.consent_granted.send(
                    sender=type(self),
                    client=application,
                    user=self.request.user,
                    scopes=form.cleaned_data.get("scope", "").split(),
                )
        return super().form_valid(form)


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(DOTTokenView):
    """Token endpoint: RFC 6749 §5.2 errors as JSON, never a 500, never an HTML page."""

    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        try:
            check_form_post(request)
            drop_empty_form_parameters(request)
            # Conflicting methods and throttled sources (429): DOT's validator can only say 401.
            client_auth.precheck(client_auth.ClientRequest.from_django(request))
            if not request.POST.get("grant_type"):
                raise OAuthError("invalid_request", "The grant_type parameter is missing.")
        except (OAuthError, ThrottledError) as exc:
            return error_response(exc)
        try:
            response = super().post(request, *args, **kwargs)
        except SigningKeyUnavailableError:
            # This instance cannot read the cluster's signing keys (oauth/keys.py): no token
            # at all rather than one signed with a key nobody publishes. Nothing was saved,
            # so the client may retry, on a healthy instance.
            unavailable = error_response(
                OAuthError(
                    "temporarily_unavailable",
                    "The server cannot sign tokens right now; retry later.",
                    status=503,
                )
            )
            unavailable["Retry-After"] = "30"
            return unavailable
        return normalise_token_response(response)

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = super().http_method_not_allowed(request, *args, **kwargs)
        response["Content-Type"] = "application/json"
        response.content = json.dumps(
            {"error": "invalid_request", "error_description": "Use POST."}
        ).encode()
        return response


def normalise_token_response(response):
    """Make every answer JSON with no-store; a 401 says how to authenticate. An empty
    ``scope`` (client_credentials without one) is left out: a scope is one or more scope
    tokens, and none granted is what none requested means (RFC 6749 §3.3, §5.1)."""
    no_store(response)
    if response.status_code == 200:
        body = json.loads(response.content)
        if body.get("scope") == "":
            del body["scope"]
            response.content = json.dumps(body).encode()
    if response.status_code >= 400:
        try:
            body = json.loads(response.content or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict) or "error" not in body:
            body = {"error": "invalid_request", "error_description": "The request is invalid."}
        if "error_description" in body:  # oauthlib may echo what the client sent
            body["error_description"] = safe_description(body["error_description"])
        if response.status_code == 401 or body.get("error") == "invalid_client":
            response.status_code = 401
            response["WWW-Authenticate"] = 'Basic realm="authsite", error="invalid_client"'
        response.content = json.dumps(body).encode()
        response["Content-Type"] = "application/json"
    return response


def _client_endpoint(handler):
    """Shared shape of introspection and revocation: form POST, client auth, JSON."""

    @csrf_exempt
    @require_POST
    def view(request):
        try:
            check_form_post(request, unbounded=("token",))
            drop_empty_form_parameters(request)
            client = client_auth.authenticate(client_auth.ClientRequest.from_django(request))
            token = request.POST.get("token")
            if not token:
                raise OAuthError("invalid_request", "The token parameter is missing.")
            return no_store(handler(request, client, token))
        except (OAuthError, ThrottledError) as exc:
            return error_response(exc)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


@_client_endpoint
def introspect(request, client, token):
    """RFC 7662: any authenticated confidential client may ask about any token."""
    if client.client_type != client.CLIENT_CONFIDENTIAL:
        raise OAuthError("invalid_client", "Only confidential clients may introspect.", status=401)
    return JsonResponse(introspection.introspect(token, hint=request.POST.get("token_type_hint")))


@_client_endpoint
def revoke(request, client, token):
    """RFC 7009: revoke a token of the calling client; unknown tokens still answer 200."""
    services.revoke_token(token, client=client, hint=request.POST.get("token_type_hint"))
    return HttpResponse(status=200)


@method_decorator([never_cache, csrf_exempt], name="dispatch")
class UserInfoView(DOTUserInfoView):
    """OIDC userinfo (OIDC Core §5.3): GET or POST, the access token in the Authorization
    header or, in a form-encoded POST, in the body (RFC 6750 §2.1, §2.2), never in the
    query (RFC 9700 §4.3.2). Every answer but a success is JSON with a Bearer challenge
    (RFC 6750 §3).

    CSRF-exempt, as DOT's own view is: a bearer token, not a cookie, authenticates the
    call, and the subclass's ``dispatch`` would otherwise lose DOT's exemption.

    The fast path (oauth/fastpath/userinfo.py) answers the requests it can prove
    natively, with the same claims function and error bodies; a change of behaviour
    here needs the same change there (tests/oauth/test_fastpath_parity.py compares).
    """

    def dispatch(self, request, *args, **kwargs):
        if request.method not in ("GET", "HEAD", "POST"):
            return super().dispatch(request, *args, **kwargs)  # OPTIONS, or a JSON 405
        try:
            token = presented_bearer_token(request)
        except OAuthError as exc:
            return bearer_error(exc.status, exc.error, exc.description)
        if token is None:
            # No credentials, or another scheme's: a challenge with no error code and no
            # error information (RFC 6750 §3.1); the body is still JSON, an empty object.
            response = JsonResponse({}, status=401)
            response["WWW-Authenticate"] = BEARER_CHALLENGE
            return response
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code in (401, 403) and lacks_openid_scope(token):
            # oauthlib asks for a token valid "for openid" and calls every miss
            # invalid_token; a live token without the scope is insufficient_scope.
            response = bearer_error(
                403, "insufficient_scope", LACKS_OPENID_DESCRIPTION, scope="openid"
            )
        elif response.status_code == 401:
            response = bearer_error(401, "invalid_token", INVALID_TOKEN_DESCRIPTION)
        elif 400 <= response.status_code < 500:
            response = bearer_error(response.status_code, "invalid_request", "Bad request.")
        return response

    def http_method_not_allowed(self, request, *args, **kwargs):
        """405 in JSON with ``Allow`` (RFC 9110 §15.5.6), as at the token endpoint."""
        response = super().http_method_not_allowed(request, *args, **kwargs)
        response["Content-Type"] = "application/json"
        response.content = json.dumps(
            {"error": "invalid_request", "error_description": "Use GET or POST."}
        ).encode()
        return response


def presented_bearer_token(request) -> str | None:
    """The access token of a userinfo request, or None when it carries none.

    One token in one place (RFC 6750 §2): ``Authorization: Bearer <token>`` (§2.1), or
    ``access_token`` in an ``application/x-www-form-urlencoded`` POST body (§2.2). A token
    in the query (RFC 9700 §4.3.2), in two places, twice, in another kind of body, or a
    ``Bearer`` header with no token or several raises an ``invalid_request`` (§3.1). An
    empty ``access_token`` counts as none; another scheme's credentials carry no token.
    """
    if any(request.GET.getlist("access_token")):
        raise OAuthError("invalid_request", "Send the access token in the Authorization header.")
    in_body = request.POST.getlist("access_token")
    if len(in_body) > 1:
        raise OAuthError("invalid_request", "The access_token parameter is repeated.")
    in_body = [value for value in in_body if value]
    if in_body and request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "A token in the body needs an x-www-form-urlencoded body."
        )
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        if in_body:
            raise OAuthError("invalid_request", "Send the access token in one place only.")
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        parts = credentials.split()
        if len(parts) != 1:
            raise OAuthError("invalid_request", "The Authorization header is malformed.")
        return parts[0]
    return in_body[0] if in_body else None


def lacks_openid_scope(token: str) -> bool:
    """Whether ``token`` is a live access token that was not granted ``openid``."""
    row = load_access_token(token)
    return row is not None and row.is_valid() and not row.allow_scopes(["openid"])


def bearer_error(status: int, error: str, description: str, *, scope=None) -> HttpResponse:
    document, challenge = errors.bearer_error(error, description, scope=scope)
    response = JsonResponse(document, status=status)
    response["WWW-Authenticate"] = challenge
    return response


def _cacheable_json(request, document: dict, *, max_age: int):
    body = json.dumps(document, sort_keys=True).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt  # read-only JSON: another method gets 405, not a CSRF page
@require_GET
def openid_configuration(request):
    """OpenID Connect Discovery 1.0 §4."""
    return _cacheable_json(request, discovery.openid_configuration(), max_age=3600)


@csrf_exempt  # read-only JSON: another method gets 405, not a CSRF page
@require_GET
def authorization_server_metadata(request):
    """RFC 8414 §3."""
    return _cacheable_json(request, discovery.authorization_server_metadata(), max_age=3600)


@csrf_exempt  # read-only JSON: another method gets 405, not a CSRF page
@require_GET
def jwks(request):
    """Every key that may have signed a live token, and the next one (RFC 7517)."""
    return _cacheable_json(request, keys.public_jwks(), max_age=300)


@method_decorator(csrf_exempt, name="dispatch")
class EndSessionView(RPInitiatedLogoutView):
    """RP-initiated logout (OIDC RP-Initiated Logout 1.0) with authsite's templates.

    GET and POST only: any other method is 405 with ``Allow`` (RFC 9110 §15.5.6), not the
    CSRF middleware's 403, so CSRF is checked here, on what reaches DOT's view.
    """

    template_name = "oauth/logout_confirm.html"
    allowed_methods = ("GET", "POST")

    def dispatch(self, request, *args, **kwargs):
        if request.method not in self.allowed_methods:
            return HttpResponseNotAllowed(self.allowed_methods)
        return csrf_protect(super().dispatch)(request, *args, **kwargs)
