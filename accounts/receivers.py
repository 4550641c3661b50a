"""Reactions to Django's authentication signals that belong to accounts.

Our sign-ins record themselves (accounts.services.sign_in.complete_sign_in).
What stays here is the session layer's bookkeeping for ``login()`` and
``logout()`` whoever calls them (the admin's sign-out, the test client's
``force_login``): every signed-in session has its ``UserSession`` row, which
the session store's epoch check and "end other sessions" rely on. The audit
event of a sign-out is recorded in audit/receivers.py."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.lockout import pop_refusal
from accounts.sessions import start_tracking, stop_tracking
from audit.events import Action, Outcome
from audit.services import record
from common.logging import printable
from common.metrics import logins_total


@receiver(user_login_failed, dispatch_uid="accounts.count_login_failed")
def count_login_failed(sender, credentials, request=None, **kwargs):
    logins_total.labels("failed").inc()
    attempted = printable(str(credentials.get("username") or ""))[:150]
    record(
        Action.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=None if request is None else getattr(request, "user", None),
        target=("login", attempted, attempted),
        request=request,
        # "locked" when the source was refused without a password check, else "bad_credentials".
        details={"reason": pop_refusal(), "path": request.path if request else ""},
    )


@receiver(user_logged_in, dispatch_uid="accounts.track_session_started")
def track_session_started(sender, request, user, **kwargs):
    """List the new session on the account page (device, address, last seen)."""
    if request is not None:
        start_tracking(request, user)


@receiver(user_logged_out, dispatch_uid="accounts.track_session_ended")
def track_session_ended(sender, request, user, **kwargs):
    """A signed-out session leaves the account page's list (any ``logout()``, the admin's too)."""
    stop_tracking(request)
