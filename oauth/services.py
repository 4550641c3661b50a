"""Operations of the authorization server: clients, revocation, clean-up.

Shared by the views, the admin, the API, the receivers and management commands.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.events import Action
from audit.services import record
from oauth import cleanup, consent, signals, tokens
from oauth.models import AccessToken, Application, Consent, Grant, RefreshToken
from oauth.revocation import revoke_access_tokens

DEMO_CLIENT_NAME = "Demo application"
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")


def generate_client_secret() -> str:
    """Return a new client secret: 384 random bits, URL-safe (64 characters).

    oauth.hashers relies on every secret being this random: that is what makes
    a fast hash of it as safe as a slow one.
    """
    return secrets.token_urlsafe(48)


@transaction.atomic
def register_client(
    *,
    name: str,
    public: bool,
    redirect_uris: Iterable[str] = (),
    post_logout_redirect_uris: Iterable[str] = (),
    grant_types: Iterable[str] | None = None,
    scopes: Iterable[str] = (),
    first_party: bool = False,
    owner=None,
) -> tuple[Application, str | None]:
    """Register an OAuth client; return it and its secret (``None`` for a public client).

    The server chooses the client id and the secret, never the caller. The
    secret is stored hashed, so this return value is the only time anyone
    sees it. Raises ``ValidationError`` keyed by field for anything
    ``Application.full_clean()`` refuses (redirect URIs, grant types…).
    The caller must already have checked that the actor may register clients.
    """
    grant_types = list(dict.fromkeys(DEFAULT_GRANT_TYPES if grant_types is None else grant_types))
    redirect_uris, post_logout_redirect_uris = list(redirect_uris), list(post_logout_redirect_uris)
    errors: dict[str, list[ValidationError]] = {}
    if not grant_types:
        errors["grant_types"] = [ValidationError(_("A client needs at least one grant type."))]
    elif public and "client_credentials" in grant_types:
        errors["grant_types"] = [
            ValidationError(
                _(
                    "A public client cannot use client_credentials: it has no secret to "
                    "authenticate with. Register a confidential client instead."
                )
            )
        ]
    elif "refresh_token" in grant_types and "authorization_code" not in grant_types:
        errors["grant_types"] = [
            ValidationError(_("refresh_token is issued only with authorization_code."))
        ]
    # The stored lists are space-separated, so a URI containing a space would
    # silently become two; report it as given instead.
    for field, uris in (
        ("redirect_uris", redirect_uris),
        ("post_logout_redirect_uris", post_logout_redirect_uris),
    ):
        for uri in uris:
            if len(uri.split()) != 1:
                errors.setdefault(field, []).append(
                    ValidationError(
                        _("Redirect URI %(uri)r contains whitespace."), params={"uri": uri}
                    )
                )
    if errors:
        raise ValidationError(errors)

    secret = None if public else generate_client_secret()
    app = Application(
        name=name,
        user=owner,
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=(
            Application.GRANT_AUTHORIZATION_CODE
            if "authorization_code" in grant_types
            else Application.GRANT_CLIENT_CREDENTIALS
        ),
        grant_types=" ".join(grant_types),
        token_endpoint_auth_method=Application.AUTH_NONE if public else "",
        # A public client has no secret. Its column still gets a random value,
        # hashed and told to no one (as DOT's own registration does), so no
        # secret, not even an empty one, ever matches it.
        client_secret=secret or generate_client_secret(),
        hash_client_secret=True,
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        allowed_scopes=" ".join(scopes),
        first_party=first_party,
    )
    app.full_clean()
    app.save()
    return app, secret


@transaction.atomic
def ensure_demo_client(*, redirect_uris: list[str], owner=None) -> tuple[Application, str | None]:
    """Create the demo confidential client once; return it and its secret if new.

    The secret is stored hashed, so it can be shown only at creation.
    """
    existing = Application.objects.filter(name=DEMO_CLIENT_NAME).first()
    if existing is not None:
        return existing, None
    return register_client(
        name=DEMO_CLIENT_NAME, public=False, redirect_uris=redirect_uris, owner=owner
    )


def revoke_tokens(*, user=None, application=None) -> int:
    """Revoke every live access and refresh token of ``user`` and/or ``application``.

    Access tokens are marked revoked and their jti deny-listed after commit
    (``oauth.revocation``); rows are kept as the record. Returns how many
    access tokens were revoked. The caller must already have checked that
    the actor may do this.
    """
    if user is None and application is None:
        raise ValueError("revoke_tokens needs a user, an application or both.")
    filters = {}
    if user is not None:
        filters["user"] = user
    if application is not None:
        filters["application"] = application
    now = timezone.now()
    with transaction.atomic():
        count = revoke_access_tokens(AccessToken.objects.filter(expires__gt=now, **filters))
        RefreshToken.objects.filter(revoked__isnull=True, **filters).update(
            revoked=now, updated=now
        )
    return count


@transaction.atomic
def revoke_access(user, application, *, request=None) -> int:
    """Withdraw the user's consent to ``application`` and end what it holds for the user.

    Forgets the remembered consent (the next authorization asks again),
    discards unredeemed authorization codes, and revokes the user's access and
    refresh tokens of that client. Returns the number of access tokens revoked.
    One transaction with one audit event; the revoked tokens reach the deny
    list only after commit. The caller must already have checked that the
    consent is the user's.
    """
    given = Consent.objects.filter(user=user, application=application).values_list("scope")
    scopes = sorted({scope for (scope_set,) in given for scope in scope_set.split()})
    consent.forget(user, application)
    Grant.objects.filter(user=user, application=application).delete()
    revoked = revoke_tokens(user=user, application=application)
    record(
        Action.CONSENT_REVOKED,
        actor=user,
        target=application,
        request=request,
        details={"scopes": scopes, "ended_by": "user", "access_tokens_revoked": revoked},
    )
    return revoked


def revoke_token(token: str, *, client, hint: str | None = None) -> None:
    """RFC 7009: revoke ``token`` if it belongs to ``client``; otherwise do nothing, silently.

    Revoking a refresh token also revokes its family's access tokens; revoking an
    access token also revokes the refresh token bound to it (RFC 7009 §2.1).
    An unknown token, or another client's, changes nothing and says nothing
    (RFC 7009 §2.2). The caller has already authenticated ``client``.
    """
    checksum = tokens.checksum(token)
    lookups = [AccessToken, RefreshToken]
    if hint == "refresh_token":
        lookups.reverse()
    for model in lookups:
        row = model.objects.filter(token_checksum=checksum, application=client).first()
        if row is None:
            continue
        with transaction.atomic():
            if model is AccessToken:
                revoke_access_tokens(AccessToken.objects.filter(pk=row.pk))
                RefreshToken.objects.filter(access_token=row, revoked__isnull=True).update(
                    revoked=timezone.now()
                )
            elif row.token_family:
                RefreshToken.revoke_family(row.token_family)
            else:
                revoke_access_tokens(AccessToken.objects.filter(pk=row.access_token_id))
                RefreshToken.objects.filter(pk=row.pk).update(revoked=timezone.now())
        signals.token_revoked.send(
            sender=model,
            client=client,
            user=row.user,
            token_type="access_token" if model is AccessToken else "refresh_token",
        )
        return


def revoke_code_tokens(grant_code_hash: str) -> int:
    """Revoke everything minted from one authorization code (replay, OAuth 2.1 §4.1.3).

    The access tokens bound to the code and every refresh-token family that
    started from it, with the access tokens those families minted since.
    ``grant_code_hash`` is ``tokens.checksum`` of the code. Returns how many
    access tokens were revoked. The caller has already checked that the replay
    carried the code's PKCE verifier (OAuth 2.1 §7.5.2).
    """
    if not grant_code_hash:
        return 0
    with transaction.atomic():
        count = revoke_access_tokens(AccessToken.objects.filter(grant_code_hash=grant_code_hash))
        families = set(
            RefreshToken.objects.filter(grant_code_hash=grant_code_hash)
            .exclude(token_family=None)
            .values_list("token_family", flat=True)
        )
        for family in families:
            RefreshToken.revoke_family(family)
        RefreshToken.objects.filter(grant_code_hash=grant_code_hash, revoked__isnull=True).update(
            revoked=timezone.now()
        )
    return count


def clear_expired_tokens() -> None:
    """Delete expired authorization codes and access, refresh and ID tokens.

    In short transactions over primary-key ranges (oauth/cleanup.py), not
    DOT's ``clear_expired``, which recounts the expired set per batch and
    never reaches refresh tokens under authsite's per-client lifetimes.
    """
    cleanup.clear_expired_tokens()
