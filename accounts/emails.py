"""Outgoing e-mail: rendered from templates, sent by a Celery task after the transaction commits.

``send(template, to=..., context=...)`` renders
``templates/accounts/email/<template>.subject.txt``, ``.txt`` and ``.html``. In
the embedded default the task runs inline; with a broker a worker sends it,
with retries. Context values must be plain (str, int, ...): they travel
through the broker.
"""

from __future__ import annotations

from django.db import transaction

from accounts.tasks import send_templated_email
from common.conf import authsite_settings


def absolute_url(path: str) -> str:
    """The public URL of ``path``, for links in e-mails.

    Mail is read outside any request, and a link must never follow the Host
    header of the request that caused it (a forged Host would send a secret
    link to an attacker's site), so the host comes from ``AUTHSITE_PUBLIC_URL``.
    """
    return f"{authsite_settings.PUBLIC_URL}{path}"


def send(template: str, *, to: str, context: dict) -> None:
    """Queue the e-mail once the current transaction commits (never if it rolls back).

    Enqueueing is ``robust``: if the broker (or, inline, the SMTP server) fails,
    the error is logged and the request that caused it still succeeds. The
    change it describes is committed already, and a page that failed only for
    some addresses would reveal which ones have accounts.
    """

    def enqueue() -> None:
        send_templated_email.delay(template, to, context)

    transaction.on_commit(enqueue, robust=True)
