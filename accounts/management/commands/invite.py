"""``manage.py invite EMAIL``: print (and optionally e-mail) a registration invitation."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.services import registration
from common.conf import authsite_settings


class Command(BaseCommand):
    help = (
        "Print a signed registration link for EMAIL (needed when AUTHSITE_REGISTRATION_MODE "
        "is 'invite'). It works until it expires or an account with EMAIL exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--send", action="store_true", help="Also e-mail the invitation to EMAIL."
        )

    def handle(self, *args, email, send, **options):
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not a valid e-mail address.") from None
        if get_user_model().objects.with_email(email).exists():
            raise CommandError("An account with this e-mail address already exists.")
        if send:
            link = registration.send_invitation(email)
        else:
            link = registration.make_invitation(email)
        self.stdout.write(link)
        if authsite_settings.REGISTRATION_MODE != "invite":
            self.stderr.write(
                f"Note: AUTHSITE_REGISTRATION_MODE is {authsite_settings.REGISTRATION_MODE!r}; "
                "the link is needed only in 'invite' mode; in 'closed' mode nobody can register."
            )
