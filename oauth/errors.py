"""Where oauth's errors (oauth/exceptions.py) become HTTP responses, as the RFCs spell them."""

from __future__ import annotations

import unicodedata

from django.http import JsonResponse

from common.exceptions import ThrottledError
from oauth.exceptions import OAuthError

# Longest value accepted in any form parameter (client assertions are the longest).
MAX_PARAMETER_LENGTH = 8192


def safe_description(text) -> str:
    """Return ``text`` with only the characters an ``error_description`` may hold.

    RFC 6749 §5.2 (and §4.1.2.1) limits it to %x20-21 / %x23-5B / %x5D-7E:
    printable ASCII without ``"`` and ``\\``. Clients put it in logs and
    ``WWW-Authenticate`` quoted strings, so a description that echoes input
    (a parameter name, say) must not smuggle quotes, backslashes, controls
    or non-ASCII. ``"`` becomes ``'``, ``\\`` becomes ``/``, accented letters
    lose their accents, whitespace runs become one space, anything else is
    dropped. A pure function: the same text always gives the same result.
    """
    out = []
    for char in unicodedata.normalize("NFKD", str(text)):
        if char == '"':
            out.append("'")
        elif char == "\\":
            out.append("/")
        elif char.isspace():
            out.append(" ")
        elif " " <= char <= "~":
            out.append(char)
    return " ".join("".join(out).split())


def error_response(exc: OAuthError | ThrottledError) -> JsonResponse:
    """JSON error body; a 401 names the scheme the client should use (RFC 6749 §5.2).

    A ``ThrottledError`` (too many failed client authentications from this
    source) is 429 with ``Retry-After`` (RFC 6585 §4); its body keeps an RFC
    6749 code, ``invalid_client``, so OAuth client libraries still recognise it.
    """
    if isinstance(exc, ThrottledError):
        error, description, status = "invalid_client", exc.message, 429
    else:
        error, description, status = exc.error, exc.description, exc.status
    response = JsonResponse(
        {"error": error, "error_description": safe_description(description)}, status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="authsite", error="invalid_client"'
    if isinstance(exc, ThrottledError):
        response["Retry-After"] = str(max(1, exc.retry_after))
    no_store(response)
    return response


# A protected resource's challenge with no error (RFC 6750 §3.1: no credentials, or another
# scheme's); userinfo answers it, from Django's view and from the fast path alike.
BEARER_CHALLENGE = 'Bearer realm="authsite"'
# userinfo's description for every rejected token: it does not say which check failed.
INVALID_TOKEN_DESCRIPTION = "The access token is invalid, expired or revoked."
LACKS_OPENID_DESCRIPTION = "The access token lacks openid."


def bearer_error(error: str, description: str, *, scope: str | None = None) -> tuple[dict, str]:
    """The JSON body and the ``WWW-Authenticate`` challenge of a Bearer error (RFC 6750 §3).

    A pure function, so Django's userinfo view and the fast path's give the same bytes;
    ``scope`` names the scope an ``insufficient_scope`` answer lacks (§3).
    """
    challenge = f'{BEARER_CHALLENGE}, error="{error}"'
    if scope is not None:
        challenge += f', scope="{scope}"'
    return {"error": error, "error_description": safe_description(description)}, challenge


def no_store(response):
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def check_form_post(request, *, unbounded: tuple[str, ...] = ()) -> None:
    """Reject what oauthlib would silently accept (RFC 6749 §3.1, §3.2).

    A repeated parameter, a body that is not form-encoded, or an oversized
    value is an ``invalid_request``; DOT would keep the last value of a
    repeated parameter. Parameters named in ``unbounded`` may be of any length
    (the size of the whole body is still limited by DATA_UPLOAD_MAX_MEMORY_SIZE):
    the ``token`` at revocation and introspection, where any string is a question
    with an answer, 200 or ``{"active": false}`` (RFC 7009 §2.2, RFC 7662 §2.2).
    """
    content_type = request.content_type or ""
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "The request body must be application/x-www-form-urlencoded."
        )
    for source in (request.POST, request.GET):
        for name, values in source.lists():
            if len(values) > 1:
                raise OAuthError("invalid_request", f"The parameter {name!r} is repeated.")
            if name in unbounded and source is request.POST:
                continue
            if len(name) > 100 or any(len(value) > MAX_PARAMETER_LENGTH for value in values):
                raise OAuthError("invalid_request", f"The parameter {name[:100]!r} is too long.")
    for name in request.POST:
        if name in request.GET:
            raise OAuthError("invalid_request", f"The parameter {name!r} is repeated.")
