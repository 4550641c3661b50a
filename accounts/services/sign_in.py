"""Signing a user in: the one place every sign-in path ends.

The password page, the second-factor step (authenticator code, recovery code,
security key), the passkey sign-in, the admin's sign-in page and registration
all call :func:`complete_sign_in` once the user has proved who they are. It
returns what happened instead of handing it over through request attributes,
context variables or session keys, and it records the sign-in itself. Django's
``user_logged_in`` still fires from ``login()``: Django updates ``last_login``
and accounts/receivers.py lists the session (it does so for every ``login()``,
the test client's ``force_login`` included).

Signing out stays Django's ``logout()``: the admin calls it too, so the
reactions to ``user_logged_out`` are receivers (audit/receivers.py records it,
accounts/receivers.py forgets the tracked session).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import login
from django.db import transaction

from accounts.sessions import apply_remember_choice, record_sign_in, start_tracking
from audit.events import Action
from audit.services import record
from common.metrics import logins_total


@dataclass(frozen=True)
class SignInResult:
    """What :func:`complete_sign_in` did.

    ``methods`` are the RFC 8176 ``amr`` values now recorded in the session;
    ``remembered`` is the "keep me signed in" choice applied, or ``None`` when
    the path offered none and the session keeps its default lifetime.
    """

    user: object
    methods: tuple[str, ...]
    remembered: bool | None


@transaction.atomic
def complete_sign_in(
    request, user, *, methods: list[str], remember: bool | None, backend: str | None = None
) -> SignInResult:
    """Sign ``user`` in on this request's session, which every sign-in path ends with.

    ``login()`` rotates the session key (a planted session id gains nothing)
    and stores ``backend``; then the remember-me choice sets the session's
    lifetime, the sign-in time and ``methods`` are recorded for the OIDC
    ``auth_time``/``amr``/``acr`` claims, the session is listed on the account
    page, and the sign-in is counted and audited.

    The caller has verified every factor ``methods`` names, and that the user
    may sign in (active, not locked out). ``backend`` may be omitted only when
    ``user`` came from ``authenticate()`` (which sets ``user.backend``).
    """
    methods = list(methods)
    login(request, user, backend=backend)
    if remember is not None:
        apply_remember_choice(request.session, remember)
    record_sign_in(request.session, methods=methods)
    # The row login()'s receiver wrote, now with the methods just recorded.
    start_tracking(request, user)
    logins_total.labels("succeeded").inc()
    record(
        Action.LOGIN_SUCCEEDED,
        actor=user,
        target=user,
        request=request,
        details={"methods": methods, "path": request.path},
    )
    return SignInResult(user=user, methods=tuple(methods), remembered=remember)
