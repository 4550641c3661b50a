from __future__ import annotations

from django.apps import AppConfig, apps


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        if apps.is_installed("django.contrib.admin"):
            from audit import receivers  # noqa: F401  (connects the signal receivers)
