"""Health endpoints: unauthenticated, never cached, JSON.

``/health`` and ``/health/live`` touch nothing but the process. ``/health/ready``
and ``/health/detailed`` check each dependency in a worker thread under a
timeout, concurrently, so a hung database or Redis makes the answer a 503
within ``AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS`` instead of hanging it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

from asgiref.sync import sync_to_async

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from authsite.celery import app
from common import metrics
from common.conf import authsite_settings
from common.exceptions import AuthsiteError

logger = logging.getLogger(__name__)

SERVICE_NAME = "authsite"
_migrations_applied = False  # once true, stays true for the life of the process
# Readiness checks apps contribute (authsite imports no app): name -> blocking callable.


class CheckFailed(Exception):
    """A check failure whose message is safe to show to anyone."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    critical: bool = True
    error: str = ""

    def as_dict(self) -> dict:
        data = {"status": "ok" if self.ok else "fail", "latency_ms": round(self.latency_ms, 2)}
        if self.error:
            data["error"] = self.error
        if not self.critical:
            data["critical"] = False
        return data


def _check_database(*, require_migrations: bool) -> None:
    global _migrations_applied
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        if require_migrations and not _migrations_applied:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if plan:
                raise CheckFailed(f"{len(plan)} migration(s) not applied")
            _migrations_applied = True
    finally:
        # The check runs in a throwaway thread: hand the connection back.
        connection.close()


def _check_cache() -> None:
    key = "authsite:health"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise CheckFailed("cache did not return the value just written")


def _check_broker() -> None:
    timeout = authsite_settings.HEALTH_CHECK_TIMEOUT_SECONDS
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


def app_readiness_checks() -> dict[str, Callable[[], None]]:
    """The apps' checks named in ``HEALTH_READINESS_CHECKS`` (name → dotted path).

    Each runs in a worker thread under the health timeout and raises when the
    instance must not take traffic; an ``AuthsiteError`` is shown by its code.
    The wiring names them in settings, so no app imports this module.
    """
    return {
        name: import_string(path)
        for name, path in getattr(settings, "HEALTH_READINESS_CHECKS", {}).items()
    }


def _check_app(check: Callable[[], None]) -> None:
    try:
        check()
    except AuthsiteError as exc:
        raise CheckFailed(exc.code) from exc
    finally:
        # The check runs in a throwaway thread: hand the connection back.
        connections[DEFAULT_DB_ALIAS].close()


def _describe(exc: BaseException) -> str:
    # A driver's exception text may include a DSN or a host name: a public
    # endpoint names only the exception class, except for our own messages.
    if isinstance(exc, CheckFailed):
        return str(exc)
    return type(exc).__name__


async def run_check(name: str, func, *, critical: bool = True, **kwargs) -> CheckResult:
    """Run one blocking check in a worker thread, bounded by the health timeout."""
    started = time.perf_counter()
    error = ""
    try:
        await asyncio.wait_for(
            sync_to_async(func, thread_sensitive=False)(**kwargs),
            timeout=authsite_settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        )
    except TimeoutError:
        error = "timeout"
        logger.warning("health check %s failed: timeout", name)
    except Exception as exc:
        error = _describe(exc)
        # The operator's log gets the detail; credentials in it are redacted.
        logger.warning("health check %s failed: %r", name, exc)
    latency_ms = (time.perf_counter() - started) * 1000
    if error:
        metrics.health_check_failures_total.labels(name).inc()
    return CheckResult(name, not error, latency_ms, critical, error)


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store, max-age=0"
    # A failing check already logged its WARNING; a red probe every few seconds
    # is no ERROR from django.request each time.
    response._has_been_logged = True
    return response


@csrf_exempt  # read-only JSON: a POST gets 405, not a CSRF page
@require_safe
async def live(request):
    """The process is up. No dependency is touched."""
    return _json({"status": "ok"})


@csrf_exempt  # read-only JSON: a POST gets 405, not a CSRF page
@require_safe
async def ready(request):
    """200 when the database answers with every migration applied, the cache answers, and
    every check an app registered passes (oauth: the signing keys decrypt)."""
    results = await asyncio.gather(
        run_check("database", _check_database, require_migrations=True),
        run_check("cache", _check_cache),
    )
    if results[0].ok:  # app checks read the database: with it down, that is the one failure
        results += await asyncio.gather(
            *(
                run_check(name, _check_app, check=check)
                for name, check in app_readiness_checks().items()
            )
        )
    failed = [r.name for r in results if not r.ok]
    body = {"status": "fail" if failed else "ok", "checks": {r.name: r.as_dict() for r in results}}
    if failed:
        body["failed"] = failed
    return _json(body, 503 if failed else 200)


@csrf_exempt  # read-only JSON: a POST gets 405, not a CSRF page
@require_safe
async def detailed(request):
    """Status and latency of every dependency, with service metadata."""
    checks = [
        run_check("database", _check_database, require_migrations=True),
        run_check("cache", _check_cache),
    ]
    if authsite_settings.BROKER_CONFIGURED:
        checks.append(run_check("broker", _check_broker))
    results = await asyncio.gather(*checks)
    failed = [r.name for r in results if not r.ok and r.critical]
    body = {
        "status": "fail" if failed else "ok",
        "service": SERVICE_NAME,
        "version": _version(),
        "environment": authsite_settings.ENVIRONMENT,
        "timestamp": datetime.now(UTC).isoformat(),
        "database_vendor": connections[DEFAULT_DB_ALIAS].vendor,
        "cache_backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "tasks": "broker" if authsite_settings.BROKER_CONFIGURED else "inline",
        "checks": {r.name: r.as_dict() for r in results},
    }
    if failed:
        body["failed"] = failed
    return _json(body, 503 if failed else 200)


def _version() -> str:
    try:
        return metadata.version("authsite")
    except metadata.PackageNotFoundError:
        return "unknown"
