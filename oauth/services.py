"""OAuth client operations shared by the admin, the API and management commands."""

from __future__ import annotations

from oauth2_provider.generators import generate_client_secret

from django.db import transaction

from oauth.models import Application

DEMO_CLIENT_NAME = "Demo application"


@transaction.atomic
def ensure_demo_client(*, redirect_uris: list[str], owner=None) -> tuple[Application, str | None]:
    """Create the demo confidential client once; return it and its secret if new.

    The secret is stored hashed, so it can be shown only at creation.
    """
    existing = Application.objects.filter(name=DEMO_CLIENT_NAME).first()
    if existing is not None:
        return existing, None
    secret = generate_client_secret()
    app = Application(
        name=DEMO_CLIENT_NAME,
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        client_secret=secret,
        hash_client_secret=True,
        redirect_uris=" ".join(redirect_uris),
        homepage_url="",
    )
    app.full_clean(exclude=["user"])
    app.save()
    return app, secret


def clear_expired_tokens() -> None:
    """Delete expired authorization codes and access, refresh and ID tokens.

    Delegates to django-oauth-toolkit's batched ``clear_expired``, which
    respects the refresh-token grace and expiry settings.
    """
    from oauth2_provider.models import clear_expired

    clear_expired()
