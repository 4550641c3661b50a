"""``manage.py createclient``: register an OAuth client and show its secret once."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from oauth.models import Application
from oauth.services import register_client


class Command(BaseCommand):
    help = "Register an OAuth client. A confidential client's secret is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Name shown to users.")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument(
            "--public",
            dest="public",
            action="store_true",
            help="A client that cannot keep a secret (browser or native app); uses PKCE only.",
        )
        kind.add_argument(
            "--confidential",
            dest="public",
            action="store_false",
            help="A client that authenticates with a secret (server-side app or service).",
        )
        parser.add_argument(
            "--redirect-uri",
            action="append",
            dest="redirect_uris",
            default=[],
            metavar="URI",
            help="Redirect URI; repeatable. Needed for authorization_code.",
        )
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            dest="post_logout_redirect_uris",
            default=[],
            metavar="URI",
            help="Post-logout redirect URI (OIDC RP-initiated logout); repeatable.",
        )
        parser.add_argument(
            "--grant",
            action="append",
            dest="grant_types",
            choices=list(Application.GRANT_TYPE_NAMES),
            help="Grant type; repeatable (default: authorization_code and refresh_token).",
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            help="Scope the client may request; repeatable (default: every scope).",
        )
        parser.add_argument(
            "--first-party",
            action="store_true",
            help="Operated by this organisation: users are not asked for consent.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        grant_types = options["grant_types"]
        if (
            "authorization_code" in (grant_types or ["authorization_code"])
            and not options["redirect_uris"]
        ):
            raise CommandError(
                "authorization_code needs at least one --redirect-uri "
                "(or choose --grant client_credentials)."
            )
        try:
            app, secret = register_client(
                name=options["name"],
                public=options["public"],
                redirect_uris=options["redirect_uris"],
                post_logout_redirect_uris=options["post_logout_redirect_uris"],
                grant_types=grant_types,
                scopes=options["scopes"],
                first_party=options["first_party"],
            )
        except ValidationError as exc:
            raise CommandError(self._messages(exc)) from None
        result = {
            "client_id": app.client_id,
            "client_secret": secret,
            "name": app.name,
            "client_type": app.client_type,
            "token_endpoint_auth_method": app.token_endpoint_auth_method or None,
            "grant_types": app.grant_types.split(),
            "redirect_uris": app.redirect_uris.split(),
            "post_logout_redirect_uris": app.post_logout_redirect_uris.split(),
            "scopes": app.allowed_scopes.split(),
            "first_party": app.first_party,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        w = self.stdout.write
        w(f"Registered {app.client_type} client {app.name!r}.")
        w(f"  client_id:     {app.client_id}")
        if secret:
            w(f"  client_secret: {secret}")
        w(f"  grant types:   {' '.join(result['grant_types'])}")
        if result["redirect_uris"]:
            w(f"  redirect URIs: {' '.join(result['redirect_uris'])}")
        if secret:
            w(self.style.WARNING("The client secret cannot be shown again; store it now."))

    @staticmethod
    def _messages(exc: ValidationError) -> str:
        if not hasattr(exc, "error_dict"):
            return "; ".join(exc.messages)
        return "; ".join(
            f"{field.replace('_', ' ')}: {message}" if field != "__all__" else message
            for field, messages in exc.message_dict.items()
            for message in messages
        )
