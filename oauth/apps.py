from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth and OpenID Connect"

    def ready(self) -> None:
        # cycle: oauth.apps -> oauth.receivers -> oauth.models (models load after apps.py)
        from oauth import receivers

        post_migrate.connect(
            receivers.create_signing_keys, sender=self, dispatch_uid="oauth.create_signing_keys"
        )

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
