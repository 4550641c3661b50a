"""accounts' request middleware: who the request's user is, with the session epoch checked."""

from __future__ import annotations

from functools import partial

from django.utils.functional import SimpleLazyObject

from accounts.sessions import arequest_user, request_user
from authsite.middleware import AuthenticationMiddleware as AsyncCapableAuthenticationMiddleware


class AuthenticationMiddleware(AsyncCapableAuthenticationMiddleware):
    """Django's authentication middleware, without its thread hop, whose ``request.user``
    trusts a cached session only at the user's current session epoch (accounts.sessions),
    so a session ended while Redis missed the delete stays ended."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: request_user(request))
        request.auser = partial(arequest_user, request)
