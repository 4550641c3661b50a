"""``manage.py bootstrap``: the first admin, and in development a demo user and client.

Idempotent: a second run creates nothing, changes nothing, and prints what
exists without secrets (they are shown once, at creation).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services.users import ensure_user
from common.conf import authsite_settings
from oauth.services import ensure_demo_client

DEMO_EMAIL = "demo@example.com"
DEMO_USERNAME = "demo"
DEFAULT_DEMO_REDIRECT_URI = "http://127.0.0.1:8080/callback"


class Command(BaseCommand):
    help = "Create the admin account (and, in development, a demo user and OAuth client)."

    def add_arguments(self, parser):
        parser.add_argument("--admin-email", default="admin@example.com")
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument(
            "--admin-password",
            help="Password for a new admin (default: random, printed once). "
            "Prefer --admin-password-file in scripts.",
        )
        parser.add_argument("--admin-password-file", help="Read the admin password from this file.")
        demo = parser.add_mutually_exclusive_group()
        demo.add_argument(
            "--demo",
            dest="demo",
            action="store_true",
            default=None,
            help="Create the demo user and client (default when DEBUG is on).",
        )
        demo.add_argument("--no-demo", dest="demo", action="store_false")
        parser.add_argument(
            "--demo-redirect-uri",
            action="append",
            dest="demo_redirect_uris",
            help=f"Demo client redirect URI (default {DEFAULT_DEMO_REDIRECT_URI}); repeatable.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        password = options["admin_password"]
        if options["admin_password_file"]:
            with open(options["admin_password_file"]) as fh:
                password = fh.read().strip()
        demo = settings.DEBUG if options["demo"] is None else options["demo"]
        try:
            admin, admin_password = ensure_user(
                email=options["admin_email"],
                username=options["admin_username"],
                password=password,
                superuser=True,
                email_verified=True,
            )
            result = {
                "issuer": authsite_settings.PUBLIC_URL,
                "admin_url": f"{authsite_settings.PUBLIC_URL}/admin/",
                "admin": self._user(admin, admin_password),
                "demo_user": None,
                "demo_client": None,
            }
            if demo:
                user, user_password = ensure_user(
                    email=DEMO_EMAIL, username=DEMO_USERNAME, password=None, email_verified=True
                )
                client, secret = ensure_demo_client(
                    redirect_uris=options["demo_redirect_uris"] or [DEFAULT_DEMO_REDIRECT_URI],
                    owner=admin,
                )
                result["demo_user"] = self._user(user, user_password)
                result["demo_client"] = {
                    "client_id": client.client_id,
                    "client_secret": secret,
                    "redirect_uris": client.redirect_uris.split(),
                    "created": secret is not None,
                }
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self._print(result)

    @staticmethod
    def _user(user, password):
        return {
            "username": user.username,
            "email": user.email,
            "password": password,
            "created": password is not None,
        }

    def _print(self, result):
        w = self.stdout.write
        w(f"authsite issuer: {result['issuer']}")
        admin = result["admin"]
        w(f"Admin console:   {result['admin_url']}")
        w(
            f"  admin          {admin['username']} / {admin['email']}"
            + (f"  password: {admin['password']}" if admin["password"] else "")
        )
        if result["demo_user"]:
            user = result["demo_user"]
            w(
                f"  demo user      {user['username']} / {user['email']}"
                + (f"  password: {user['password']}" if user["password"] else "")
            )
        if result["demo_client"]:
            client = result["demo_client"]
            w(
                f"  demo client    client_id: {client['client_id']}"
                + (f"  client_secret: {client['client_secret']}" if client["client_secret"] else "")
            )
            w(f"                 redirect_uri: {' '.join(client['redirect_uris'])}")
        created = [admin] + [result[k] for k in ("demo_user", "demo_client") if result[k]]
        if any(item["created"] for item in created):
            w(self.style.WARNING("Passwords and secrets above are shown only this once."))
        else:
            w(
                "Everything already existed; passwords and secrets were shown on the first run "
                "(reset a password with: manage.py changepassword EMAIL)."
            )
