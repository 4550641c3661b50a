"""Celery tasks of accounts: thin, retried shells (e-mail)."""

from __future__ import annotations

import smtplib

from celery import shared_task

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts import lockout, sessions
from common.conf import authsite_settings


@shared_task(
    name="accounts.send_templated_email",
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_templated_email(template: str, to: str, context: dict) -> None:
    """Render ``accounts/email/<template>.*`` and send it (retried on SMTP or network errors)."""
    context = {"site_name": authsite_settings.SITE_NAME, **context}
    subject = render_to_string(f"accounts/email/{template}.subject.txt", context)
    text = render_to_string(f"accounts/email/{template}.txt", context)
    html = render_to_string(f"accounts/email/{template}.html", context)
    message = EmailMultiAlternatives(
        " ".join(subject.split()), text, settings.DEFAULT_FROM_EMAIL, [to]
    )
    message.attach_alternative(html, "text/html")
    message.send()


@shared_task(name="accounts.prune_sign_in_records", acks_late=True)
def prune_sign_in_records() -> dict[str, int]:
    """Delete sign-in locks, failure records and ended sessions past their use (daily, on beat)."""
    return {**lockout.prune_records(), **sessions.prune_ended_sessions()}
