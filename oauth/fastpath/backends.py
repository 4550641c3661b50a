"""The fast path's own connections: an async PostgreSQL pool, a redis.asyncio client,
the version poller, and group commit.

Django's connections are synchronous and bound to threads; using them from the
event loop would cost a thread hop per query (the design note measured the
async ORM at 0.4-1 ms per token). The fast path therefore keeps its own psycopg
``AsyncConnectionPool`` built from ``DATABASES["default"]`` and its own Redis
client on ``AUTHSITE_REDIS_URL``, both opened on first use (or at the ASGI
lifespan's start) and closed at its shutdown.

**Versions.** Client records and the discovery/JWKS documents are memoised per
worker. The versions Django's code writes when they change
(``oauth.client_auth.CLIENT_CACHE_VERSION_KEY``, ``oauth.keys.KEYS_VERSION_CACHE_KEY``)
are read by one background task once a second, never on a request; a change
clears the memo. When Redis does not answer, memo entries still expire by age.

**Group commit.** Token rows and their audit events are queued; one writer
task inserts up to :data:`BATCH_SIZE` of them in one statement (one
transaction), and each waiting request learns its row committed only after
the COMMIT. Concurrent requests share one round trip and one fsync instead of
paying one each; a failed batch fails every request in it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis_asyncio
from psycopg import InterfaceError, OperationalError
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections

from common.conf import authsite_settings
from common.logging import log_dependency_failure
from oauth.exceptions import TokenNotStoredError

logger = logging.getLogger(__name__)

BATCH_SIZE = 128
# Batches written at once: a second batch fills while the first one commits.
WRITERS = 2
VERSION_POLL_SECONDS = 1.0
POOL_MAX_SIZE = 4
# PostgreSQL unreachable: the request goes to Django, which answers its 503.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
_REDIS_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)


def conninfo_from_settings() -> str:
    db = settings.DATABASES["default"]
    options = db.get("OPTIONS") or {}
    params = {
        "dbname": db.get("NAME") or "",
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db.get("PORT")) if db.get("PORT") else None,
        "connect_timeout": options.get("connect_timeout"),
        "application_name": "authsite-fastpath",
    }
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def cache_key_name(key: str) -> str:
    """The raw Redis key under which Django's cache stores ``key``."""
    return cache.make_key(key)


class Backends:
    """One per worker process (per wrapped application)."""

    def __init__(self) -> None:
        self._pool: AsyncConnectionPool | None = None
        self._pool_lock = asyncio.Lock()
        self.redis = redis_asyncio.Redis.from_url(
            authsite_settings.REDIS_URL,
            socket_timeout=1,
            socket_connect_timeout=1,
            health_check_interval=30,
        )
        self._watched: dict[str, list[Callable[[], None]]] = {}
        self._versions: dict[str, bytes | None] = {}
        self.versions_checked = 0.0  # monotonic time of the last successful poll
        self._poller: asyncio.Task | None = None
        self._queue: list[tuple[tuple, asyncio.Future]] = []
        self._writers = 0
        self._writer_tasks: set[asyncio.Task] = set()
        self._redis_closed_until = 0.0

    # --- Redis's circuit breaker (as authsite/redis_breaker.py for django-redis) ---------
    def redis_usable(self) -> bool:
        """False for ``AUTHSITE_REDIS_BREAKER_SECONDS`` after a Redis timeout or connection
        error: callers take their "Redis is down" fallback at once instead of each waiting
        for its own timeout."""
        return time.monotonic() >= self._redis_closed_until

    def redis_failed(self, exc: BaseException) -> None:
        if isinstance(exc, _REDIS_FAILURES):
            self._redis_closed_until = time.monotonic() + authsite_settings.REDIS_BREAKER_SECONDS

    # --- PostgreSQL -----------------------------------------------------------------
    async def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    pool = AsyncConnectionPool(
                        conninfo_from_settings(),
                        min_size=1,
                        max_size=POOL_MAX_SIZE,
                        kwargs={"autocommit": True},
                        timeout=float(
                            settings.DATABASES["default"]
                            .get("OPTIONS", {})
                            .get("pool", {})
                            .get("timeout", 1.0)
                        ),
                        check=AsyncConnectionPool.check_connection,
                        open=False,
                        name="authsite-fastpath",
                    )
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    async def fetchone(self, query: str, params: tuple) -> tuple | None:
        pool = await self.pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(query, params, prepare=True)
            return await cursor.fetchone()

    # --- versions ---------------------------------------------------------------------
    def watch(self, cache_key: str, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` whenever the value Django's cache holds under ``cache_key``
        changes (checked once a second by the poller)."""
        self._watched.setdefault(cache_key_name(cache_key), []).append(on_change)
        self.start_poller()

    def start_poller(self) -> None:
        if self._poller is None or self._poller.done():
            try:
                self._poller = asyncio.get_running_loop().create_task(self._poll_versions())
            except RuntimeError:  # no loop yet: the first request starts it
                self._poller = None

    async def _poll_versions(self) -> None:
        while True:
            await self.poll_versions_once()
            await asyncio.sleep(VERSION_POLL_SECONDS)

    async def poll_versions_once(self) -> None:
        names = list(self._watched)
        if not names or not self.redis_usable():
            return
        try:
            values = await self.redis.mget(names)
        except Exception as exc:  # memo entries still expire by age
            self.redis_failed(exc)
            log_dependency_failure(
                logger,
                "fast path version poll",
                "fast path cannot read cache versions (%s): memoised entries expire by age",
                type(exc).__name__,
            )
            return
        self.versions_checked = time.monotonic()
        for name, value in zip(names, values, strict=True):
            if name in self._versions and self._versions[name] != value:
                for on_change in self._watched[name]:
                    on_change()
            self._versions[name] = value

    # --- group commit -------------------------------------------------------------------
    async def commit(self, statement: Statement, row: tuple) -> None:
        """Queue ``row`` for ``statement``; return once it is committed (raise if it failed)."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(((statement, row), future))
        if self._writers < WRITERS:
            self._start_writer()
        await future

    def _start_writer(self) -> None:
        self._writers += 1
        task = asyncio.get_running_loop().create_task(self._write())
        self._writer_tasks.add(task)
        task.add_done_callback(self._writer_tasks.discard)

    async def _write(self) -> None:
        try:
            while self._queue:
                # One statement kind per batch: take the first entry's kind, up to BATCH_SIZE.
                statement = self._queue[0][0][0]
                batch, rest = [], []
                for entry in self._queue:
                    if entry[0][0] is statement and len(batch) < BATCH_SIZE:
                        batch.append(entry)
                    else:
                        rest.append(entry)
                self._queue = rest
                try:
                    pool = await self.pool()
                    async with pool.connection() as conn:
                        await conn.execute(
                            statement.sql, statement.params([row for (_, row), _ in batch])
                        )
                except Exception:
                    logger.exception(
                        "fast path: a batch of %d %s failed; its requests are answered 503",
                        len(batch),
                        statement.name,
                    )
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(TokenNotStoredError())
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._writers -= 1

    # --- shutdown ------------------------------------------------------------------------
    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self._writer_tasks:
            await asyncio.gather(*self._writer_tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.redis.aclose()


@dataclass(frozen=True)
class Statement:
    """An INSERT that takes a batch of rows: ``params(rows)`` turns the rows (tuples in
    column order) into the statement's parameters (one array per column)."""

    name: str
    sql: str

    def params(self, rows: list[tuple]) -> tuple:
        return tuple(list(column) for column in zip(*rows, strict=True))


async def call_django(function, *args, **kwargs):
    """Call a synchronous function of the Django side (signing, verifying) on the loop.

    They answer from per-worker memos almost always; when one has to read the
    database (a cold memo, a key change), Django refuses on the event loop and
    the call is made again in a thread, whose connection is handed back after.
    """
    try:
        return function(*args, **kwargs)
    except SynchronousOnlyOperation:
        return await asyncio.to_thread(_in_thread, function, args, kwargs)


def _in_thread(function, args, kwargs):
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()
