"""authsite: an OAuth 2.1 / OpenID Connect identity provider built on Django."""

from __future__ import annotations

from authsite.celery import app as celery_app

__all__ = ["celery_app"]
