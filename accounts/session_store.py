"""Sessions in the database with Redis in front, that keep working when Redis does not.

Django's ``cached_db`` engine lets a cache error escape from ``load``,
``exists`` and ``delete``, so an unreachable Redis would turn every signed-in
page and every sign-in into a 500. Here the cache is only an accelerator:
an error counts as a miss (reads) or is skipped (writes), and PostgreSQL,
which always holds the session, answers.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

from authsite.logging import log_dependency_failure

logger = logging.getLogger(__name__)


class _TolerantCache:
    """The session cache, with every error logged and treated as 'not cached'."""

    def __init__(self, cache):
        self._cache = cache

    def _failed(self, operation: str, exc: Exception):
        log_dependency_failure(
            logger,
            f"session cache {operation}",
            "session cache unavailable (%s), using the database: %r",
            operation,
            exc,
        )

    def get(self, key, default=None):
        try:
            return self._cache.get(key, default)
        except Exception as exc:
            self._failed("get", exc)
            return default

    def set(self, key, value, timeout=None):
        try:
            self._cache.set(key, value, timeout)
        except Exception as exc:
            self._failed("set", exc)

    def delete(self, key):
        try:
            self._cache.delete(key)
        except Exception as exc:
            self._failed("delete", exc)

    def __contains__(self, key) -> bool:
        try:
            return key in self._cache
        except Exception as exc:
            self._failed("exists", exc)
            return False

    async def aget(self, key, default=None):
        try:
            return await self._cache.aget(key, default)
        except Exception as exc:
            self._failed("get", exc)
            return default

    async def aset(self, key, value, timeout=None):
        try:
            await self._cache.aset(key, value, timeout)
        except Exception as exc:
            self._failed("set", exc)

    async def adelete(self, key):
        try:
            await self._cache.adelete(key)
        except Exception as exc:
            self._failed("delete", exc)

    def __str__(self) -> str:
        return str(self._cache)


class SessionStore(CachedDBStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _TolerantCache(self._cache)
