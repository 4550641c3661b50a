"""Parallel test workers (pytest-xdist) and the Redis databases each one owns.

`make test` runs the suite in several worker processes. PostgreSQL needs
nothing from us: pytest-django gives each worker its own test database, and
server tests create their own databases. Redis is different: every test
process reads REDIS_URL once, when Django's settings load, and tests share
state there (signing-key versions, throttle counters, the deny list, FLUSHDB
in the lockout tests). So each worker gets a Redis database of its own:
worker ``gwN`` uses database ``base + N`` for REDIS_URL and ``SPARE_BASE + N``
for the tests that need a second, disposable one. Database 12 stays the
benchmark's (bench/run.py).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

MAX_WORKERS = 4
SPARE_BASE = 8


def worker_index() -> int:
    """0 for a serial run and for worker gw0, N for gwN."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def worker_redis_url(url: str, index: int) -> str:
    """REDIS_URL for worker ``index``: the configured database plus the index."""
    if index >= MAX_WORKERS:
        raise ValueError(f"at most {MAX_WORKERS} test workers share one Redis server")
    base = int(urlsplit(url).path.lstrip("/") or 0)
    db = base + index
    if db >= SPARE_BASE:
        raise ValueError(f"REDIS_URL database {base} leaves no room for {index + 1} workers")
    return with_db(url, db)


def spare_redis_url(url: str) -> str:
    """A second Redis database on the same server that only this worker uses (and may FLUSHDB)."""
    return with_db(url, SPARE_BASE + worker_index())
