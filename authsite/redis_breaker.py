"""A circuit breaker in front of Redis, for every django-redis call of the process.

Every Redis user in authsite (caches, sessions, rate limits, the lockout
counters, the deny list) already falls back when Redis raises: to
PostgreSQL, or by failing open where that is safe. What hurt was a *slow*
Redis: each call waited for its own socket timeout, so one token request
made several calls and stalled for several seconds.

After a timeout or a connection error, the breaker for that Redis server
opens for ``AUTHSITE_REDIS_BREAKER_SECONDS``: every call in this process
fails at once with :class:`CircuitOpenError` (a ``redis.ConnectionError``, so
the callers' existing fallbacks apply unchanged). When the period is over,
one call tries Redis again (the others still fail fast meanwhile); its
success closes the breaker, its failure opens it for another period. A slow
Redis therefore costs one timeout per process per period.

It sits in the connection class of django-redis's pools
(``DJANGO_REDIS_CONNECTION_FACTORY``), below every caller, pipeline and Lua
script, so no call site can forget it.
"""

from __future__ import annotations

import logging
import threading
import time

from django_redis.pool import ConnectionFactory
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common.conf import authsite_settings
from common.logging import log_dependency_failure

logger = logging.getLogger(__name__)

_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)


class CircuitOpenError(RedisConnectionError):
    """Redis failed moments ago: not asked again until the breaker's period is over."""


class Breaker:
    """Closed, open until a deadline, or half-open with one trial call in flight."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._opened_at: float | None = None  # set while open or half-open
        self._trial_until = 0.0  # a trial call is in flight until then

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def before_call(self) -> None:
        """Raise CircuitOpenError instead of letting a call reach a failing Redis."""
        if self._opened_at is None:  # the common case, without the lock
            return
        now = time.monotonic()
        with self._lock:
            if self._opened_at is None:
                return
            if now < self._open_until or now < self._trial_until:
                raise CircuitOpenError(f"Redis at {self.name} failed recently; not called")
            # Half-open: this call is the trial; the others keep failing fast until it
            # ends (bounded, in case it never reports back).
            self._trial_until = now + max(self._period(), 1.0)

    def succeeded(self) -> None:
        if self._opened_at is None:
            return
        with self._lock:
            if self._opened_at is None:
                return
            down_for = time.monotonic() - self._opened_at
            self._opened_at, self._open_until, self._trial_until = None, 0.0, 0.0
        logger.info("Redis at %s answers again (unavailable for %.1fs)", self.name, down_for)

    def failed(self, exc: BaseException) -> None:
        period = self._period()
        if period <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._open_until, self._trial_until = now + period, 0.0
            if self._opened_at is None:
                self._opened_at = now
        log_dependency_failure(
            logger,
            f"redis {self.name}",
            "Redis at %s is unavailable (%s): not called for %ss at a time; "
            "caches, sessions, counters and the deny list use their fallbacks",
            self.name,
            type(exc).__name__,
            period,
        )

    def reset(self) -> None:
        with self._lock:
            self._opened_at, self._open_until, self._trial_until = None, 0.0, 0.0

    @staticmethod
    def _period() -> float:
        return authsite_settings.REDIS_BREAKER_SECONDS


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(name: str) -> Breaker:
    """The process's one breaker for the Redis server ``name`` (``host:port`` or a path)."""
    breaker = _breakers.get(name)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(name, Breaker(name))
    return breaker


def reset_breakers() -> None:
    """Close every breaker (tests)."""
    for breaker in list(_breakers.values()):
        breaker.reset()


class BreakerConnectionMixin:
    """Consults and feeds the server's breaker around connecting, sending and reading."""

    @property
    def breaker(self) -> Breaker:
        name = getattr(self, "path", None) or f"{self.host}:{self.port}"
        return breaker_for(str(name))

    def connect(self):
        # Every command starts here (the pool calls it on each checkout), so an open
        # breaker refuses before any socket work.
        breaker = self.breaker
        breaker.before_call()
        try:
            return super().connect()
        except _FAILURES as exc:
            breaker.failed(exc)
            raise

    def send_packed_command(self, command, check_health=True):
        try:
            return super().send_packed_command(command, check_health)
        except _FAILURES as exc:
            self.breaker.failed(exc)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except _FAILURES as exc:
            self.breaker.failed(exc)
            raise
        except Exception:  # an error reply: Redis answered
            self.breaker.succeeded()
            raise
        self.breaker.succeeded()
        return response


_wrapped: dict[type, type] = {}


def with_breaker(connection_class: type) -> type:
    """``connection_class`` (TCP, TLS or Unix socket) with the breaker mixed in."""
    if issubclass(connection_class, BreakerConnectionMixin):
        return connection_class
    if connection_class not in _wrapped:
        _wrapped[connection_class] = type(
            f"Breaker{connection_class.__name__}",
            (BreakerConnectionMixin, connection_class),
            {"__module__": __name__},
        )
    return _wrapped[connection_class]


class BreakerConnectionFactory(ConnectionFactory):
    """django-redis's connection factory, whose pools make breaker-guarded connections."""

    def get_connection_pool(self, params):
        pool = super().get_connection_pool(params)
        pool.connection_class = with_breaker(pool.connection_class)
        return pool
