"""The endpoints authsite offers, and only those (not DOT's URLs wholesale)."""

from __future__ import annotations

app_name = "oauth"
urlpatterns: list = []
