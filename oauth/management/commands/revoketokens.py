"""``manage.py revoketokens``: revoke every live token of a user or of a client."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from oauth.models import Application
from oauth.services import revoke_tokens


class Command(BaseCommand):
    help = "Revoke every live access and refresh token of a user or of a client."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", metavar="USER", help="Username or e-mail address.")
        target.add_argument("--client", metavar="CLIENT_ID", help="The client's client_id.")

    def handle(self, *args, **options):
        if options["user"] is not None:
            User = get_user_model()
            try:
                user = User.objects.get_by_login(options["user"])
            except User.DoesNotExist:
                raise CommandError(
                    f"No user with username or e-mail {options['user']!r}."
                ) from None
            count = revoke_tokens(user=user)
            target = f"user {user.get_username()}"
        else:
            try:
                application = Application.objects.get(client_id=options["client"])
            except Application.DoesNotExist:
                raise CommandError(f"No client with client_id {options['client']!r}.") from None
            count = revoke_tokens(application=application)
            target = f"client {application.client_id}"
        self.stdout.write(
            f"Revoked {count} access token{'' if count == 1 else 's'} of {target} "
            "and every refresh token."
        )
