"""Reactions to Django's authentication signals that belong to accounts."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from authsite.metrics import logins_total


@receiver(user_logged_in, dispatch_uid="accounts.count_login_succeeded")
def count_login_succeeded(sender, request, user, **kwargs):
    logins_total.labels("succeeded").inc()


@receiver(user_login_failed, dispatch_uid="accounts.count_login_failed")
def count_login_failed(sender, credentials, request=None, **kwargs):
    logins_total.labels("failed").inc()
