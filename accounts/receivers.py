"""Reactions to Django's authentication signals that belong to accounts."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.lockout import pop_refusal
from accounts.sessions import record_sign_in
from audit.events import Action, Outcome
from audit.services import record
from common.logging import printable
from common.metrics import logins_total


@receiver(user_logged_in, dispatch_uid="accounts.count_login_succeeded")
def count_login_succeeded(sender, request, user, **kwargs):
    logins_total.labels("succeeded").inc()


@receiver(user_logged_in, dispatch_uid="accounts.record_sign_in")
def remember_how_the_user_signed_in(sender, request, user, **kwargs):
    methods = ["pwd"]
    if request is not None and hasattr(request, "session"):
        # Multi-factor sign-in (the MFA feature) will record its own methods.
        methods = getattr(request, "authsite_amr", None) or ["pwd"]
        record_sign_in(request.session, methods=methods)
    record(
        Action.LOGIN_SUCCEEDED,
        actor=user,
        target=user,
        request=request,
        details={"methods": methods, "path": request.path if request is not None else ""},
    )


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
        from accounts.sessions import start_tracking

        start_tracking(request, user)


@receiver(user_logged_out, dispatch_uid="accounts.track_session_ended")
def track_session_ended(sender, request, user, **kwargs):
    """A signed-out session leaves the account page's list."""
    from accounts.sessions import stop_tracking

    stop_tracking(request)
