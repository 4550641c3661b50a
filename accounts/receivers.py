"""Reactions to Django's authentication signals that belong to accounts.

Our sign-ins record themselves (accounts.services.sign_in.complete_sign_in),
and failed sign-ins are recorded by the authentication backend
(accounts/backends.py). What stays here is the session layer's bookkeeping
for ``login()`` and ``logout()`` whoever calls them (the admin's sign-out, the
test client's ``force_login``): every signed-in session has its
``UserSession`` row, which the session store's epoch check and "end other
sessions" rely on. The audit event of a sign-out is recorded in
audit/receivers.py."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from accounts.sessions import start_tracking, stop_tracking


@receiver(user_logged_in, dispatch_uid="accounts.track_session_started")
def track_session_started(sender, request, user, **kwargs):
    """List the new session on the account page (device, address, last seen)."""
    if request is not None:
        start_tracking(request, user)


@receiver(user_logged_out, dispatch_uid="accounts.track_session_ended")
def track_session_ended(sender, request, user, **kwargs):
    """A signed-out session leaves the account page's list (any ``logout()``, the admin's too)."""
    stop_tracking(request)
