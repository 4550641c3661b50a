"""``manage.py unlock USER``: end every sign-in lock of a user, on every instance."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import lockout
from accounts.management.lookups import user_from_argument


class Command(BaseCommand):
    help = (
        "End every sign-in lock of USER (username or e-mail), from every address, and reset "
        "the failed sign-in counters. Locks on an address alone are cleared in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", metavar="USER", help="Username or e-mail address.")

    def handle(self, *args, user, **options):
        account = user_from_argument(user)
        count = lockout.unlock_user(account, source="manage.py unlock")
        self.stdout.write(f"Cleared {count} sign-in lock{'' if count == 1 else 's'} of {account}.")
