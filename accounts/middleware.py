"""accounts' request middleware: who the request's user is, with the session epoch checked."""

from __future__ import annotations

from functools import partial

from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.utils.functional import SimpleLazyObject

from accounts.sessions import arequest_user, request_user


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's authentication middleware, without its thread hop, whose ``request.user``
    trusts a cached session only at the user's current session epoch (accounts.sessions),
    so a session ended while Redis missed the delete stays ended."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: request_user(request))
        request.auser = partial(arequest_user, request)

    async def __acall__(self, request):
        # Without Django's thread hop: request.user is lazy, so no query runs until used.
        self.process_request(request)
        return await self.get_response(request)
