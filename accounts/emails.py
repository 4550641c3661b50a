"""Outgoing e-mail: rendered from templates, sent by a Celery task after the transaction commits.

``send(template, to=..., context=...)`` renders
``templates/accounts/email/<template>.subject.txt``, ``.txt`` and ``.html``. In
the embedded default the task runs inline; with a broker a worker sends it,
with retries. Context values must be plain (str, int, ...): they travel
through the broker.
"""

from __future__ import annotations

from django.db import transaction


def send(template: str, *, to: str, context: dict) -> None:
    from accounts.tasks import send_templated_email

    transaction.on_commit(lambda: send_templated_email.delay(template, to, context))
