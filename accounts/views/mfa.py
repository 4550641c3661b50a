"""Account pages: mfa (being built)."""

from __future__ import annotations

urlpatterns: list = []
