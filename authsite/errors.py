"""Error answers at the HTTP edge: JSON for machines, the branded page for people.

One rule decides the shape of every error answer, whoever produces it (the
``handler400/403/404/500`` views, the request middleware, the database-outage
hook): a request to a machine endpoint (token, revocation, introspection,
userinfo, discovery, JWKS, health) gets an RFC 6749 §5.2-style JSON body with
``application/json``; anything else gets a page in the site's look.

Error pages are rendered from settings only (:func:`authsite.context_processors.branding`),
never with the request's context processors: a 500 or a 503 must render when the
database, and so the session and the user, cannot be read.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from authsite.context_processors import branding
from common.exceptions import BusyError

logger = logging.getLogger(__name__)

# The endpoints programs call, with whatever lies below them. Kept as paths, not URL
# names, because the answer must be decided before URL resolution (a refused Host, an
# oversized body); tests check that the named URLs fall under them.
MACHINE_PATHS = (
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/userinfo",
    "/.well-known",
    "/health",
)

# Probed by load balancers and Prometheus by address, with a Host that is rarely in
# ALLOWED_HOSTS; they build no URL from it, so the Host is not checked there.
PROBE_PATHS = ("/health", "/metrics")

# How long a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5

# RFC 6749 §5.2 code and a fixed description per status, for errors that carry none.
STATUS_ERRORS = {
    400: ("invalid_request", "The request is malformed."),
    403: ("access_denied", "The request is not allowed."),
    404: ("invalid_request", "There is no endpoint at this address."),
    405: ("invalid_request", "The HTTP method is not allowed here."),
    413: ("invalid_request", "The request body is too large."),
    500: ("server_error", "The server could not complete the request."),
    503: ("temporarily_unavailable", "The service is temporarily unavailable. Retry later."),
}

PAGE_TEMPLATES = {400: "400.html", 413: "400.html", 500: "500.html", 503: "503.html"}


def is_machine_path(path: str) -> bool:
    """Whether an error on ``path`` is answered as JSON rather than as a page."""
    return any(path == base or path.startswith(base + "/") for base in MACHINE_PATHS)


def json_error(status: int, error: str | None = None, description: str | None = None):
    """An RFC 6749 §5.2 body. Descriptions here are authsite's own fixed sentences (no
    quote, backslash or non-ASCII), never text from the request."""
    default_error, default_description = STATUS_ERRORS.get(status, STATUS_ERRORS[400])
    body = {
        "error": error or default_error,
        "error_description": description or default_description,
    }
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def error_page(request, status: int) -> HttpResponse:
    """The branded page for ``status``, rendered from settings only (no database)."""
    template = loader.get_template(PAGE_TEMPLATES.get(status, "400.html"))
    response = HttpResponse(template.render(branding(request)), status=status)
    response["Cache-Control"] = "no-store"
    return response


def error_response(
    request, status: int, description: str | None = None, *, retry_after: int | None = None
) -> HttpResponse:
    """JSON on a machine endpoint, the branded page elsewhere; 503 says when to retry."""
    if is_machine_path(request.path):
        response = json_error(status, description=description)
    else:
        response = error_page(request, status)
    if status == 503:
        response["Retry-After"] = str(retry_after or RETRY_AFTER_SECONDS)
    return response


# --- handler400/403/404/500 (authsite/urls.py) --------------------------------------


def bad_request(request, exception=None):
    return error_response(request, 413 if isinstance(exception, RequestDataTooBig) else 400)


@requires_csrf_token
def permission_denied(request, exception=None):
    if is_machine_path(request.path):
        return json_error(403)
    return defaults.permission_denied(request, exception)


@requires_csrf_token
def page_not_found(request, exception=None):
    if is_machine_path(request.path):
        return json_error(404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """A 500, or a 503 when what failed is the database being unreachable."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        return error_response(request, 503)
    return error_response(request, 500)


# --- Exceptions the request middleware answers itself ---------------------------------


def is_database_unavailable(exc: BaseException | None) -> bool:
    """An error connecting to or talking with the database (not a bad query)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def database_unavailable(request, exc: BaseException) -> HttpResponse:
    # One line without a traceback: an outage is an operational state, not a bug.
    logger.warning("database unavailable, answering 503: %s", type(exc).__name__)
    response = error_response(request, 503)
    # The line above is the record: no second one, as an ERROR, from django.request.
    response._has_been_logged = True
    return response


def busy(request, exc: BusyError) -> HttpResponse:
    """A bound kept on purpose is full (accounts/password_work.py): 503 with its Retry-After."""
    logger.warning("busy, answering 503: %s", exc.code)
    response = error_response(request, 503, exc.message, retry_after=exc.retry_after)
    response._has_been_logged = True
    return response


# Client errors Django raises while reading a request: no traceback in the log.
CLIENT_ERRORS = (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    DisallowedHost,
    MultiPartParserError,
    BadRequest,
    SuspiciousOperation,
)


def client_error(request, exc: Exception) -> HttpResponse:
    """The answer to a request Django cannot read: 413 or 400, logged as a WARNING."""
    status = 413 if isinstance(exc, RequestDataTooBig) else 400
    logger.warning("refused request (%s): %s", type(exc).__name__, exc)
    if isinstance(exc, RequestDataTooBig):
        description = (
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    elif isinstance(exc, TooManyFieldsSent):
        description = f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    elif isinstance(exc, DisallowedHost):
        description = "The Host header names a host this server does not serve."
    else:
        description = None
    return error_response(request, status, description)


def check_request(request) -> HttpResponse | None:
    """Read the Host, the query and the form body before any view does, and answer what Django would
    otherwise turn into a technical page (DEBUG) or an ERROR with a traceback.

    Parsing ``request.POST`` here costs nothing extra: it is cached for the view.
    """
    try:
        if not request.path.startswith(PROBE_PATHS):
            request.get_host()
        request.GET  # noqa: B018  (too many query fields; DEBUG's own page would crash on it)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            request.POST  # noqa: B018  (parses, and raises on limits)
        elif int(request.META.get("CONTENT_LENGTH") or 0) > (
            settings.DATA_UPLOAD_MAX_MEMORY_SIZE or sys.maxsize
        ):
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    except CLIENT_ERRORS as exc:
        if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
            request._mark_post_parse_error()  # as Django's own handler does
        return client_error(request, exc)
    except ValueError:  # a Content-Length that is not a number
        return client_error(request, BadRequest("Malformed Content-Length."))
    return None


def machine_json(request, response: HttpResponse) -> HttpResponse:
    """Last line on machine endpoints: an error answered as a page (Django's 405, its
    DEBUG technical pages, a 404) becomes JSON with the same status and ``Allow``."""
    if (
        response.status_code < 400
        or response.status_code == 401  # bearer challenges are the view's (RFC 6750 §3)
        or not is_machine_path(request.path)
        or response.get("Content-Type", "").startswith("application/json")
    ):
        return response
    replacement = json_error(response.status_code)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            replacement[header] = response[header]
    return replacement
