"""``manage.py changepassword USER``: set a user's password at a terminal or from a pipe.

Replaces Django's command, which finds users only by e-mail here (the
``USERNAME_FIELD``), crashes with ``EOFError`` when no terminal is attached,
and saves the password without ending sessions or revoking tokens.
"""

from __future__ import annotations

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management.lookups import user_from_argument
from accounts.services import passwords
from common.conf import authsite_settings

NO_TERMINAL = (
    "No terminal to ask for the password on. Pass it on standard input instead, e.g.\n"
    "  printf '%s\\n' \"$NEW_PASSWORD\" | manage.py changepassword USER --password-stdin"
)


class Command(BaseCommand):
    help = (
        "Set the password of USER (username or e-mail). Asks twice at a terminal; with "
        "--password-stdin reads one line from standard input. Every session of the user "
        "ends and their tokens are revoked."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("user", metavar="USER", help="Username or e-mail address.")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the new password from the first line of standard input (for scripts).",
        )

    def handle(self, *args, user, **options):
        account = user_from_argument(user)
        stdin = options.get("stdin") or sys.stdin
        if options["password_stdin"]:
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input (--password-stdin).")
        else:
            password = self.ask(stdin)
        limit = authsite_settings.PASSWORD_MAX_LENGTH
        if len(password) > limit:
            raise CommandError(f"The password is longer than {limit} characters.")
        try:
            ended = passwords.set_password_for_user(
                account, password, source="manage.py changepassword"
            )
        except ValidationError as exc:
            raise CommandError("The password is too weak: " + " ".join(exc.messages)) from None
        self.stdout.write(
            f"Password changed for {account}; ended {ended} session{'' if ended == 1 else 's'} "
            "and revoked every token."
        )

    def ask(self, stdin) -> str:
        if not stdin.isatty():
            raise CommandError(NO_TERMINAL)
        try:
            first = getpass.getpass("New password: ")
            second = getpass.getpass("New password (again): ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("No password entered; nothing changed.") from None
        if first != second:
            raise CommandError("The two passwords differ; nothing changed.")
        if not first:
            raise CommandError("No password entered; nothing changed.")
        return first
