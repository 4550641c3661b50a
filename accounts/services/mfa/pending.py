"""The pending sign-in: the password was accepted, the second factor not yet.

The password page (and the admin's sign-in page) stores who passed the
password, where they were going, the backend that accepted them and their
"keep me signed in" choice in the session, without signing them in. The
second-factor step reads it back, and :func:`finish_sign_in` turns it into a
sign-in through :func:`accounts.services.sign_in.complete_sign_in`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.http import next_url
from accounts.services.mfa.common import CHALLENGE_KEY, forget_attempts, has_mfa
from accounts.services.sign_in import SignInResult, complete_sign_in
from audit.events import Action
from audit.services import record
from common.conf import authsite_settings

PENDING_KEY = "authsite_mfa_pending"


@dataclass(frozen=True)
class Pending:
    user: object
    next_url: str
    backend: str
    remember: bool = False


def start_pending_sign_in(
    session, user, *, next_url: str, backend: str = "", remember: bool = False
) -> None:
    """Remember who passed the password, without signing them in."""
    session.pop(CHALLENGE_KEY, None)
    session[PENDING_KEY] = {
        "user": user.pk,
        "next": next_url or "",
        "at": int(time.time()),
        "backend": backend or getattr(user, "backend", "") or "",
        "remember": bool(remember),
    }


def pending_sign_in(session) -> Pending | None:
    """The pending sign-in, when it is recent and the user may still sign in."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    if time.time() - data.get("at", 0) > authsite_settings.MFA_PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    user = get_user_model().objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None:
        session.pop(PENDING_KEY, None)
        return None
    return Pending(
        user=user,
        next_url=data.get("next") or "",
        backend=data.get("backend") or "",
        remember=bool(data.get("remember")),
    )


def end_pending_sign_in(session) -> None:
    session.pop(PENDING_KEY, None)


def signing_in(request) -> Pending | None:
    """The pending sign-in, or the signed-in user asked to prove a second factor (step-up)."""
    pending = pending_sign_in(request.session)
    if pending is None and request.user.is_authenticated and has_mfa(request.user):
        return Pending(user=request.user, next_url=next_url(request) or "", backend="")
    return pending


def record_used(user, method: str, request, *, details: dict | None = None) -> None:
    details = {"method": method, **(details or {})}
    record(Action.MFA_USED, actor=user, target=user, request=request, details=details)


def finish_sign_in(
    request, pending: Pending, *, methods: list[str], method: str, details: dict | None = None
) -> SignInResult:
    """Sign in now that the second factor ``method`` passed (``details`` go into its audit).

    The caller has verified the factor for ``pending.user``.
    """
    user = pending.user
    end_pending_sign_in(request.session)
    forget_attempts(user)
    record_used(user, method, request, details=details)
    return complete_sign_in(
        request,
        user,
        methods=methods,
        remember=pending.remember,
        backend=pending.backend or settings.AUTHENTICATION_BACKENDS[0],
    )
