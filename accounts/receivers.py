"""Reactions to Django's authentication signals that belong to accounts."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts.sessions import record_sign_in
from authsite.metrics import logins_total


@receiver(user_logged_in, dispatch_uid="accounts.count_login_succeeded")
def count_login_succeeded(sender, request, user, **kwargs):
    logins_total.labels("succeeded").inc()


@receiver(user_logged_in, dispatch_uid="accounts.record_sign_in")
def remember_how_the_user_signed_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        # Multi-factor sign-in (the MFA feature) will record its own methods.
        methods = getattr(request, "authsite_amr", None) or ["pwd"]
        record_sign_in(request.session, methods=methods)


@receiver(user_login_failed, dispatch_uid="accounts.count_login_failed")
def count_login_failed(sender, credentials, request=None, **kwargs):
    logins_total.labels("failed").inc()
