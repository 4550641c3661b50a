"""``manage.py createuser USERNAME --email E``: create an account from the command line."""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError

from accounts.models import UsernameValidator
from accounts.services.users import create_user, generate_password
from common.conf import authsite_settings


class Command(BaseCommand):
    help = (
        "Create a user. Without --password-stdin a random password is generated and printed "
        "once; with it, the first line of standard input is the password (never an argument, "
        "which would end up in the shell history and the process list)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username", help="Letters, digits and . + - _ only.")
        parser.add_argument("--email", required=True, help="The e-mail address (unique).")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )
        parser.add_argument(
            "--verified", action="store_true", help="Mark the e-mail address as verified."
        )
        parser.add_argument(
            "--staff", action="store_true", help="Allow the user into the admin console."
        )

    def handle(self, *args, **options):
        User = get_user_model()
        username = User.normalize_username(options["username"]).strip()
        email = User.objects.normalize_email(options["email"].strip())
        try:
            UsernameValidator()(username)
        except ValidationError:
            raise CommandError(
                f"{username!r} is not a valid username: use letters, digits and . + - _ only."
            ) from None
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not a valid e-mail address.") from None
        if User.objects.with_username(username).exists():
            raise CommandError(f"A user with the username {username!r} already exists.")
        if User.objects.with_email(email).exists():
            raise CommandError(f"A user with the e-mail address {email!r} already exists.")

        generated = not options["password_stdin"]
        if generated:
            password = generate_password()
        else:
            stdin = options.get("stdin") or sys.stdin
            password = stdin.readline().rstrip("\r\n")
            self.check_password(password, User(username=username, email=email))

        try:
            create_user(
                email=email,
                username=username,
                password=password,
                staff=options["staff"],
                email_verified=options["verified"],
                source="manage.py createuser",
            )
        except (IntegrityError, ValidationError):  # created by someone else meanwhile
            raise CommandError(
                f"A user with the username {username!r} or e-mail {email!r} already exists."
            ) from None
        self.stdout.write(f"Created user {username} <{email}>.")
        if generated:
            self.stdout.write(f"Password (shown only now): {password}")

    def check_password(self, password: str, user) -> None:
        if not password:
            raise CommandError("No password on standard input (--password-stdin).")
        limit = authsite_settings.PASSWORD_MAX_LENGTH
        if len(password) > limit:
            raise CommandError(f"The password is longer than {limit} characters.")
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("The password is too weak: " + " ".join(exc.messages)) from None
