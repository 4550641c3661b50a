"""How the authorization server reacts to changes made elsewhere (Django signals).

Application rows are cached by ``client_auth.load_client``; every save and
delete, from the admin, a management command or a service, drops the entry so
a new secret, redirect URI or deletion applies to the next request. A migrated
database gets its first signing keys, the audit trail records the server's
security events, and account events end a user's tokens.
"""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import signals as account_signals
from audit.events import Action, Outcome
from audit.services import record
from oauth import client_auth, keys, signals
from oauth.services import revoke_tokens

logger = logging.getLogger(__name__)


# --- The first signing keys --------------------------------------------------------
def create_signing_keys(sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Give a migrated database its first signing keys, so the server can sign from the start.

    Runs only once every oauth migration is applied, and never fails
    ``migrate``: on error it logs, and ``manage.py rotatekeys`` (or the first
    token request) creates the keys later.
    """
    if using != DEFAULT_DB_ALIAS:
        return
    try:
        loader = MigrationLoader(connections[using], ignore_no_migrations=True)
        leaves = {node for node in loader.graph.leaf_nodes() if node[0] == sender.label}
        if not leaves <= set(loader.applied_migrations):
            return
        keys.ensure_signing_keys()
    except Exception:  # migrate must finish; the keys can be created later
        logger.warning("could not create the first signing keys", exc_info=True)


# --- The client cache ------------------------------------------------------------------
def forget_changed_client(sender, instance, using=None, **kwargs) -> None:
    """Invalidate now, and again on commit: a request that read the old row before the
    commit must not keep serving it from the cache."""
    client_id = instance.client_id
    client_auth.forget_client(client_id)
    transaction.on_commit(lambda: client_auth.forget_client(client_id), using=using)


def forget_renamed_client(
    sender, instance, using=None, raw=False, update_fields=None, **kwargs
) -> None:
    """A changed ``client_id`` leaves the old id's entry behind: drop that one as well."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and "client_id" not in update_fields:
        return
    previous = (
        sender._default_manager.using(using)
        .filter(pk=instance.pk)
        .values_list("client_id", flat=True)
        .first()
    )
    if previous and previous != instance.client_id:
        client_auth.forget_client(previous)
        transaction.on_commit(lambda: client_auth.forget_client(previous), using=using)


# --- The audit trail: every security event of the authorization server ---------------


@receiver(signals.token_issued, dispatch_uid="oauth.audit_token_issued")
def audit_token_issued(sender, client, user, grant_type, scopes, **kwargs):
    action = Action.TOKEN_REFRESHED if grant_type == "refresh_token" else Action.TOKEN_ISSUED
    record(
        action,
        actor=user or client,
        target=client,
        details={"grant_type": grant_type, "scopes": scopes, "client_id": client.client_id},
    )


@receiver(signals.token_revoked, dispatch_uid="oauth.audit_token_revoked")
def audit_token_revoked(sender, client, user, token_type, **kwargs):
    record(
        Action.TOKEN_REVOKED,
        actor=client,
        target=user or client,
        details={"token_type": token_type, "client_id": client.client_id},
    )


@receiver(signals.refresh_token_reused, dispatch_uid="oauth.audit_refresh_token_reused")
def audit_refresh_token_reused(sender, client, user, **kwargs):
    record(
        Action.REFRESH_TOKEN_REUSED,
        outcome=Outcome.FAILURE,
        actor=client,
        target=user or client,
        details={"client_id": getattr(client, "client_id", ""), "family_revoked": True},
    )


@receiver(signals.authorization_code_replayed, dispatch_uid="oauth.audit_code_replayed")
def audit_code_replayed(sender, client, user, revoked, **kwargs):
    record(
        Action.CODE_REPLAYED,
        outcome=Outcome.FAILURE,
        actor=client,
        target=user or client,
        details={"client_id": client.client_id, "tokens_revoked": revoked},
    )


@receiver(signals.consent_granted, dispatch_uid="oauth.audit_consent_granted")
def audit_consent_granted(sender, client, user, scopes, **kwargs):
    record(
        Action.CONSENT_GRANTED,
        actor=user,
        target=client,
        details={"scopes": scopes, "client_id": client.client_id},
    )


@receiver(signals.code_issued, dispatch_uid="oauth.audit_code_issued")
def audit_code_issued(sender, client, user, scopes, **kwargs):
    record(
        Action.CODE_ISSUED,
        actor=user,
        target=client,
        details={"scopes": scopes, "client_id": client.client_id},
    )


@receiver(post_save, sender="oauth.Application", dispatch_uid="oauth.audit_client_saved")
def audit_client_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    record(
        Action.CLIENT_CREATED if created else Action.CLIENT_CHANGED,
        target=instance,
        details={
            "client_type": instance.client_type,
            "grant_types": sorted(instance.oauth_grant_types()),
            "redirect_uris": instance.redirect_uris.split(),
            "first_party": instance.first_party,
        },
    )


@receiver(post_delete, sender="oauth.Application", dispatch_uid="oauth.audit_client_deleted")
def audit_client_deleted(sender, instance, **kwargs):
    record(Action.CLIENT_DELETED, target=instance, details={"name": instance.name})


# --- Account events that end a user's tokens (accounts never imports oauth) ------------


@receiver(account_signals.credentials_changed, dispatch_uid="oauth.revoke_on_credentials")
def revoke_tokens_when_credentials_change(sender, user, reason="", **kwargs):
    """A password change or reset, or removed MFA, ends every refresh and access token
    of the user (RFC 9700 §4.14.2, ASVS 7.4.3)."""
    revoke_tokens(user=user)


@receiver(account_signals.user_disabled, dispatch_uid="oauth.revoke_on_disable")
def revoke_tokens_of_disabled_user(sender, user, **kwargs):
    revoke_tokens(user=user)
