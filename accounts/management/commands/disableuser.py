"""``manage.py disableuser USER``: stop an account signing in, end its sessions and tokens."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.management.lookups import user_from_argument
from accounts.sessions import end_sessions
from accounts.signals import user_disabled
from audit.events import Action
from audit.services import record

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Disable USER (username or e-mail): the account can no longer sign in, every "
        "session ends and every OAuth token is revoked (ASVS 7.4.2). Re-enable it in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", metavar="USER", help="Username or e-mail address.")

    def handle(self, *args, user, **options):
        account = user_from_argument(user)
        was_active = account.is_active
        with transaction.atomic():
            account.is_active = False
            account.save(update_fields=["is_active"])
            ended = end_sessions(account)
            # oauth/receivers.py revokes every access and refresh token of the user.
            user_disabled.send(sender=type(account), user=account, request=None)
            record(
                Action.USER_DISABLED,
                target=account,
                details={
                    "source": "manage.py disableuser",
                    "was_active": was_active,
                    "devices_signed_out": ended,  # ("session" keys are redacted)
                },
            )
        state = "Disabled" if was_active else "Already disabled:"
        self.stdout.write(
            f"{state} {account}; ended {ended} session{'' if ended == 1 else 's'} "
            "and revoked every token."
        )
