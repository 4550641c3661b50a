"""django-oauth-toolkit's models, swapped in from the first migration.

DOT documents that swapping a model after its tables exist is a migration
trap (``models.E022``); every model authsite may extend is therefore swapped
now, and ``0001_initial`` runs before ``oauth2_provider.0001_initial``.
Fields here are the ones later features need to index or filter on.
"""

from __future__ import annotations

import base64
import json
import uuid

from jwcrypto import jwk
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from oauth.redirects import validate_redirect_uri
from oauth.revocation import revoke_access_tokens


class ApplicationQuerySet(models.QuerySet):
    """Bulk writes invalidate the client cache too (oauth/client_auth.py).

    ``save()`` and ``delete()`` reach oauth/receivers.py through signals, but
    ``update()`` (and ``bulk_update()``, which calls it) sends none: without
    this, a client disabled or given a new secret or redirect URI that way kept
    being served from the cache.
    """

    def update(self, **kwargs):
        rows = super().update(**kwargs)
        if rows:
            _clients_changed(self.db)
        return rows

    update.alters_data = True

    def delete(self):
        result = super().delete()
        _clients_changed(self.db)
        return result

    delete.alters_data = True
    delete.queryset_only = True


def _clients_changed(using: str) -> None:
    from oauth import client_auth  # cycle: oauth.models -> oauth.client_auth -> oauth.models

    client_auth.forget_clients()
    # Again after commit: a request that read the old rows meanwhile must not keep them.
    transaction.on_commit(client_auth.forget_clients, using=using)


class ApplicationManager(models.Manager.from_queryset(ApplicationQuerySet)):
    def get_by_natural_key(self, client_id):
        return self.get(client_id=client_id)


class Application(AbstractApplication):
    """An OAuth client registered with authsite."""

    objects = ApplicationManager()

    ES256_ALGORITHM = "ES256"
    ALGORITHM_TYPES = (
        (AbstractApplication.RS256_ALGORITHM, _("RSA with SHA-2 256 (RS256)")),
        (ES256_ALGORITHM, _("ECDSA P-256 with SHA-2 256 (ES256)")),
    )
    AUTH_CLIENT_SECRET_BASIC = "client_secret_basic"
    AUTH_CLIENT_SECRET_POST = "client_secret_post"
    AUTH_PRIVATE_KEY_JWT = "private_key_jwt"
    AUTH_NONE = "none"
    TOKEN_ENDPOINT_AUTH_METHODS = (
        (AUTH_CLIENT_SECRET_BASIC, "client_secret_basic"),
        (AUTH_CLIENT_SECRET_POST, "client_secret_post"),
        (AUTH_PRIVATE_KEY_JWT, "private_key_jwt"),
        (AUTH_NONE, _("none (public client)")),
    )
    # OAuth grant type names (RFC 8414 spelling) -> django-oauth-toolkit's names.
    GRANT_TYPE_NAMES = {
        "authorization_code": AbstractApplication.GRANT_AUTHORIZATION_CODE,
        "client_credentials": AbstractApplication.GRANT_CLIENT_CREDENTIALS,
        "refresh_token": "refresh_token",
    }

    algorithm = models.CharField(
        _("ID token signing algorithm"),
        max_length=5,
        choices=ALGORITHM_TYPES,
        default=AbstractApplication.RS256_ALGORITHM,
    )
    grant_types = models.CharField(
        _("grant types"),
        max_length=255,
        blank=True,
        help_text=_(
            "Space-separated: authorization_code, refresh_token, client_credentials. "
            "Empty: the authorization grant type above (with refresh_token for codes)."
        ),
    )
    token_endpoint_auth_method = models.CharField(
        _("token endpoint authentication"),
        max_length=32,
        choices=TOKEN_ENDPOINT_AUTH_METHODS,
        blank=True,
        help_text=_("Empty: client_secret_basic or client_secret_post for confidential clients."),
    )
    jwks = models.JSONField(
        _("client JWKS"),
        null=True,
        blank=True,
        help_text=_("Public keys for private_key_jwt client authentication (RFC 7523)."),
    )
    allowed_scopes = models.CharField(
        _("allowed scopes"),
        max_length=1000,
        blank=True,
        help_text=_("Space-separated. Empty: every scope the server offers."),
    )
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

    def clean(self) -> None:
        errors: dict[str, list] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors = {
                field: [
                    e
                    for e in field_errors
                    # Keys come from SigningKey rows (oauth.keys), not DOT's OIDC_RSA_PRIVATE_KEY.
                    if "OIDC_RSA_PRIVATE_KEY" not in " ".join(e.messages)
                ]
                for field, field_errors in exc.error_dict.items()
            }
        # Stricter than DOT (RFC 9700 §4.1.3; see oauth/redirects.py).
        for field in ("redirect_uris", "post_logout_redirect_uris"):
            ours = []
            for uri in getattr(self, field).split():
                try:
                    validate_redirect_uri(uri)
                except ValidationError as exc:
                    ours.extend(exc.error_list)
            if ours:
                # Ours say the same as DOT's, with the fix: one message per problem, not two.
                errors[field] = ours
        unknown = set(self.grant_types.split()) - set(self.GRANT_TYPE_NAMES)
        if unknown:
            errors.setdefault("grant_types", []).append(
                ValidationError(
                    _("Unknown grant type(s): %(names)s. Use %(allowed)s."),
                    params={
                        "names": ", ".join(sorted(unknown)),
                        "allowed": ", ".join(self.GRANT_TYPE_NAMES),
                    },
                )
            )
        if self.token_endpoint_auth_method == self.AUTH_PRIVATE_KEY_JWT and not self.jwks:
            errors.setdefault("jwks", []).append(
                ValidationError(_("private_key_jwt needs the client's public keys (JWKS)."))
            )
        errors = {field: errs for field, errs in errors.items() if errs}
        if errors:
            raise ValidationError(errors)

    @property
    def jwk_key(self):
        """The published public keys (DOT verifies ID tokens, e.g. ``id_token_hint``, with it).

        Signing never uses this: oauth.tokens signs with the active SigningKey.
        """
        from oauth import keys  # cycle: oauth.models -> oauth.keys -> oauth.models

        return jwk.JWKSet.from_json(json.dumps(keys.public_jwks()))

    def oauth_grant_types(self) -> set[str]:
        """The OAuth grant types (RFC 8414 names) this client may use."""
        if self.grant_types.strip():
            return set(self.grant_types.split())
        if self.authorization_grant_type == self.GRANT_AUTHORIZATION_CODE:
            return {"authorization_code", "refresh_token"}
        if self.authorization_grant_type == self.GRANT_CLIENT_CREDENTIALS:
            return {"client_credentials"}
        return set()

    def allows_grant_type(self, *grant_types) -> bool:
        allowed = {self.GRANT_TYPE_NAMES[name] for name in self.oauth_grant_types()}
        return any(grant_type in allowed for grant_type in grant_types)


def unverified_claims(token: str | None) -> dict:
    """The claims of a JWT, unverified: only for a token minted or verified already."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jti_of(token: str | None) -> uuid.UUID | None:
    """The ``jti`` of a JWT access token minted here (unverified: the caller minted it)."""
    try:
        return uuid.UUID(str(unverified_claims(token)["jti"]))
    except (ValueError, KeyError, TypeError):
        return None


class Grant(AbstractGrant):
    """An authorization code (DOT keeps it only until it is redeemed).

    It also carries how the user signed in, for the ID token minted from it.
    """

    sid = models.CharField(_("session id"), max_length=64, blank=True)
    amr = models.CharField(_("authentication methods"), max_length=100, blank=True)
    auth_time = models.DateTimeField(_("authentication time"), null=True, blank=True)
    redeemed = models.DateTimeField(
        _("redeemed"),
        null=True,
        blank=True,
        help_text=_("Kept after redemption until it expires, so a replay can be recognised."),
    )

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

    def save(self, *args, **kwargs):
        # The row's jti is the one inside the JWT, so revocation by jti
        # (deny list) and by row (database) agree.
        if self._state.adding:
            jti = jti_of(getattr(self, "_raw_token", None) or self.token)
            if jti is not None:
                self.jti = jti
        super().save(*args, **kwargs)

    def is_valid(self, scopes=None) -> bool:
        return self.revoked is None and super().is_valid(scopes)

    def revoke(self) -> None:
        """Mark revoked and deny-list the jti; the row stays as a record (DOT deletes it)."""
        revoke_access_tokens(type(self).objects.filter(pk=self.pk))


class RefreshToken(AbstractRefreshToken):
    """A refresh token; ``family_started`` bounds the absolute lifetime of its family."""

    grant_code_hash = models.CharField(
        _("authorization code hash"), max_length=64, blank=True, db_index=True
    )
    family_started = models.DateTimeField(_("family started"), null=True, blank=True)

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"

    @classmethod
    def revoke_family(cls, token_family) -> None:
        """Revoke every token of the family (refresh-token reuse, RFC 9700 §4.14.2).

        Overrides DOT's version, which deletes the access tokens: here they are
        marked revoked and deny-listed like any other revocation.
        """
        if not token_family:
            return
        with transaction.atomic():
            now = timezone.now()
            members = cls.objects.filter(token_family=token_family)
            revoke_access_tokens(
                AccessToken.objects.filter(
                    models.Q(pk__in=members.values("access_token_id"))
                    | models.Q(source_refresh_token__in=members)
                )
            )
            members.filter(revoked__isnull=True).update(revoked=now, updated=now)


class Consent(models.Model):
    """A user's remembered approval of a client for one exact set of scopes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(_("scope"), max_length=1000, help_text=_("Sorted, space-separated."))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "application", "scope"], name="oauth_consent_unique_scope_set"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.application} ({self.scope})"


class SigningKey(models.Model):
    """A key that signs ID tokens and access tokens.

    Life cycle: ``next`` (published in JWKS, signs nothing) → ``active`` (signs)
    → ``previous`` (signs nothing, still published until every token it signed
    has expired) → ``retired`` (unpublished; the private key is erased).
    """

    class State(models.TextChoices):
        NEXT = "next", _("next")
        ACTIVE = "active", _("active")
        PREVIOUS = "previous", _("previous")
        RETIRED = "retired", _("retired")

    kid = models.CharField(_("key id"), max_length=100, unique=True, editable=False)
    algorithm = models.CharField(_("algorithm"), max_length=10, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=State, db_index=True)
    public_jwk = models.JSONField(_("public JWK"), editable=False)
    private_key_encrypted = models.TextField(
        _("private key (encrypted)"), blank=True, editable=False
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    activated = models.DateTimeField(_("activated"), null=True, blank=True)
    deactivated = models.DateTimeField(_("deactivated"), null=True, blank=True)
    retired = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing key")
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["algorithm"],
                condition=models.Q(state="active"),
                name="oauth_signingkey_one_active_per_algorithm",
            ),
            models.UniqueConstraint(
                fields=["algorithm"],
                condition=models.Q(state="next"),
                name="oauth_signingkey_one_next_per_algorithm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.kid} ({self.state})"
