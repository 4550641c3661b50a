"""Reactions to Django's authentication signals that belong to accounts."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from accounts.sessions import record_sign_in
from audit.events import Action
from audit.services import record
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


@receiver(user_logged_out, dispatch_uid="accounts.record_sign_out")
def record_sign_out(sender, request, user, **kwargs):
    if user is not None:
        record(Action.LOGOUT, actor=user, target=user, request=request)


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
