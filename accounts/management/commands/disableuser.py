"""``manage.py disableuser USER``: stop an account signing in, end its sessions and tokens."""

from __future__ import annotations

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import UserSession
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
        User = get_user_model()
        try:
            account = User.objects.get_by_login(user)
        except User.DoesNotExist:
            raise CommandError(f"No user with username or e-mail {user!r}.") from None
        was_active = account.is_active
        with transaction.atomic():
            account.is_active = False
            account.save(update_fields=["is_active"])
            ended = end_sessions(account)
            # oauth/receivers.py revokes every access and refresh token of the user.
            user_disabled.send(sender=User, user=account, request=None)
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


def end_sessions(user) -> int:
    """Delete every session of ``user``: the listed ones and any other the store holds."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = set(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    if hasattr(store, "get_model_class"):  # database-backed: find unlisted ones too
        owner = str(user.pk)
        sessions = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
        for session in sessions.only("session_key", "session_data").iterator():
            if store().decode(session.session_data).get(SESSION_KEY) == owner:
                keys.add(session.session_key)
    UserSession.objects.filter(user=user).delete()
    for key in keys:
        try:
            store(key).delete()
        except Exception as exc:  # cache down (cached_db): delete the row directly
            logger.warning("session cache entry not removed (%s)", type(exc).__name__)
            if hasattr(store, "get_model_class"):
                store.get_model_class().objects.filter(session_key=key).delete()
    return len(keys)
