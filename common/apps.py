from __future__ import annotations

from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Installed only for the rate limiter's PostgreSQL fallback table (common/models.py)."""

    name = "common"
    verbose_name = "Common"
    default_auto_field = "django.db.models.BigAutoField"
