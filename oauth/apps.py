from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save

logger = logging.getLogger(__name__)


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth and OpenID Connect"

    def ready(self) -> None:
        post_migrate.connect(
            create_signing_keys, sender=self, dispatch_uid="oauth.create_signing_keys"
        )
        from oauth import receivers

        application = self.get_model("Application")
        pre_save.connect(
            receivers.forget_renamed_client,
            sender=application,
            dispatch_uid="oauth.forget_renamed_client",
        )
        for signal in (post_save, post_delete):
            signal.connect(
                receivers.forget_changed_client,
                sender=application,
                dispatch_uid="oauth.forget_changed_client",
            )


def create_signing_keys(sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Give a migrated database its first signing keys, so the server can sign from the start.

    Runs only once every oauth migration is applied, and never fails
    ``migrate``: on error it logs, and ``manage.py rotatekeys`` (or the first
    token request) creates the keys later.
    """
    if using != DEFAULT_DB_ALIAS:
        return
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    from oauth import keys

    try:
        loader = MigrationLoader(connections[using], ignore_no_migrations=True)
        leaves = {node for node in loader.graph.leaf_nodes() if node[0] == sender.label}
        if not leaves <= set(loader.applied_migrations):
            return
        keys.ensure_signing_keys()
    except Exception:  # migrate must finish; the keys can be created later
        logger.warning("could not create the first signing keys", exc_info=True)
