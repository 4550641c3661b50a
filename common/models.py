"""The one table of ``common``: rate-limit windows counted in the database.

Only limits that must survive Redis (``durable=True`` in common/ratelimit.py,
today the sign-in lockout) write here, and only while Redis does not answer
or when the cache is not Redis at all (the embedded mode).
"""

from __future__ import annotations

from django.db import models


class RateLimitWindow(models.Model):
    """Events counted under one limit key in one fixed window (the database fallback).

    ``key`` is the SHA-256 of the caller's key, so neither logins nor addresses
    are stored in clear; ``scope`` is the caller's key up to its first ``:``.
    """

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key", "window_start"], name="common_ratelimitwindow_window"
            )
        ]
        indexes = [models.Index(fields=["window_start"], name="common_rlw_window_start")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:12]} {self.window_start:%H:%M}: {self.count}"
