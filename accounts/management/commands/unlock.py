"""``manage.py unlock USER``: end every sign-in lock of a user, on every instance."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import lockout


class Command(BaseCommand):
    help = (
        "End every sign-in lock of USER (username or e-mail), from every address, and reset "
        "the failed sign-in counters. Locks on an address alone are cleared in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", metavar="USER", help="Username or e-mail address.")

    def handle(self, *args, user, **options):
        User = get_user_model()
        try:
            account = User.objects.get_by_login(user)
        except User.DoesNotExist:
            raise CommandError(f"No user with username or e-mail {user!r}.") from None
        count = lockout.unlock_user(account, source="manage.py unlock")
        self.stdout.write(f"Cleared {count} sign-in lock{'' if count == 1 else 's'} of {account}.")
