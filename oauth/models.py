"""django-oauth-toolkit's models, swapped in from the first migration.

DOT documents that swapping a model after its tables exist is a migration
trap (``models.E022``); every model authsite may extend is therefore swapped
now, and ``0001_initial`` runs before ``oauth2_provider.0001_initial``.
Fields here are the ones later features need to index or filter on.
"""

from __future__ import annotations

import uuid

from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from django.db import models
from django.utils.translation import gettext_lazy as _


class Application(AbstractApplication):
    """An OAuth client registered with authsite."""

    first_party = models.BooleanField(
        _("first party"),
        default=False,
        help_text=_("Operated by this organisation: users are not asked for consent."),
    )
    homepage_url = models.URLField(_("homepage URL"), blank=True)
    logo_url = models.URLField(_("logo URL"), blank=True)
    access_token_lifetime_seconds = models.PositiveIntegerField(
        _("access token lifetime (seconds)"),
        null=True,
        blank=True,
        help_text=_("Empty: the server default."),
    )
    refresh_token_idle_lifetime_seconds = models.PositiveIntegerField(
        _("refresh token idle lifetime (seconds)"), null=True, blank=True
    )
    refresh_token_absolute_lifetime_seconds = models.PositiveIntegerField(
        _("refresh token absolute lifetime (seconds)"), null=True, blank=True
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("application")


class Grant(AbstractGrant):
    """An authorization code (DOT keeps it only until it is redeemed)."""

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class IDToken(AbstractIDToken):
    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class AccessToken(AbstractAccessToken):
    """An issued access token; ``jti`` is the id carried inside the JWT."""

    jti = models.UUIDField(_("JWT id"), default=uuid.uuid4, unique=True, editable=False)
    grant_code_hash = models.CharField(
        _("authorization code hash"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("SHA-256 of the code this token was minted from, to revoke it on code replay."),
    )
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(AbstractRefreshToken):
    """A refresh token; ``family_started`` bounds the absolute lifetime of its family."""

    grant_code_hash = models.CharField(
        _("authorization code hash"), max_length=64, blank=True, db_index=True
    )
    family_started = models.DateTimeField(_("family started"), null=True, blank=True)

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"
