from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import receivers  # noqa: F401  (connects the signal receivers)


class AuthsiteAdminConfig(AdminConfig):
    """django.contrib.admin with authsite's site: staff need a second factor (settings)."""

    default_site = "accounts.admin_site.AuthsiteAdminSite"
