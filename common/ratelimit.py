"""Fixed-window counters in the shared cache, for throttles any app can use.

``hit`` counts one event under a key and says whether the limit still
allows it; ``peek`` says whether one more would be allowed without counting.
The window starts at a key's first hit and is not extended by later ones, so
a throttled source is let back in after at most ``window_seconds``.

With django-redis each hit is one Lua script (INCR, and PEXPIRE on the first
hit), so parallel hits from many workers never overshoot the limit. Other
backends use ``cache.add`` + ``cache.incr``, which is atomic in the
local-memory cache (one process) but not in the database cache.

Throttles fail open: when the cache raises (Redis down, or its circuit
breaker open), every call answers "allowed" and never raises; the failure
is logged once per scope and ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``.
Stored keys are ``authsite:rl:<scope>:<sha256>``, where the scope is the part
of the caller's key before the first ``:``, so neither client ids nor
addresses appear in Redis or in the logs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

from django_redis.cache import RedisCache

from django.core.cache import caches

from common.logging import log_dependency_failure

logger = logging.getLogger(__name__)

CACHE_ALIAS = "default"
KEY_PREFIX = "authsite:rl:"
_SCOPE = re.compile(r"[a-z0-9_.-]{1,40}")

# KEYS[1] the counter, ARGV[1] the window in ms; returns {count, ms left}.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class RateLimitResult:
    """``allowed``: the event is within the limit; ``retry_after``: seconds until the
    window resets (0 when nothing is counted, e.g. when failing open)."""

    allowed: bool
    count: int
    retry_after: int


def hit(key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
    """Count one event under ``key``; allowed while the count is at most ``limit``."""
    scope, stored = _stored_key(key)
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            count, ms_left = _redis_hit(backend, stored, window_seconds)
            retry_after = _seconds(ms_left / 1000)
        else:
            count, retry_after = _generic_hit(backend, stored, window_seconds)
    except Exception as exc:  # a throttle must never take the endpoint down
        return _fail_open(scope, exc)
    return RateLimitResult(count <= limit, count, retry_after)


def peek(key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
    """Whether one more hit would be allowed, without counting it."""
    scope, stored = _stored_key(key)
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            redis_key = backend.make_key(stored)
            pipe = backend.client.get_client(write=False).pipeline(transaction=False)
            raw, ms_left = pipe.get(redis_key).pttl(redis_key).execute()
            count = int(raw or 0)
            retry_after = _seconds(ms_left / 1000) if count and ms_left > 0 else 0
        else:
            count = int(backend.get(stored) or 0)
            retry_after = _generic_retry_after(backend, stored, window_seconds) if count else 0
    except Exception as exc:
        return _fail_open(scope, exc)
    return RateLimitResult(count < limit, count, retry_after)


def reset(key: str) -> None:
    """Forget every event counted under ``key`` (e.g. after an operator unblocks a source)."""
    scope, stored = _stored_key(key)
    try:
        caches[CACHE_ALIAS].delete_many([stored, stored + ":reset"])
    except Exception as exc:
        _fail_open(scope, exc)


def _stored_key(key: str) -> tuple[str, str]:
    scope = key.partition(":")[0]
    if not _SCOPE.fullmatch(scope):
        scope = "key"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return scope, f"{KEY_PREFIX}{scope}:{digest}"


def _is_django_redis(backend) -> bool:
    return isinstance(backend, RedisCache)


def _redis_hit(backend, stored: str, window_seconds: int) -> tuple[int, int]:
    client = backend.client.get_client(write=True)
    script = client.register_script(_HIT_SCRIPT)
    count, ms_left = script(keys=[backend.make_key(stored)], args=[window_seconds * 1000])
    return int(count), int(ms_left)


def _generic_hit(backend, stored: str, window_seconds: int) -> tuple[int, int]:
    # The reset time lives in a second key: the cache API cannot read a TTL.
    backend.add(stored + ":reset", time.time() + window_seconds, window_seconds)
    for _ in range(3):
        if backend.add(stored, 1, window_seconds):
            return 1, _generic_retry_after(backend, stored, window_seconds)
        try:
            count = backend.incr(stored)
        except ValueError:  # expired between add and incr: start a new window
            continue
        return count, _generic_retry_after(backend, stored, window_seconds)
    raise RuntimeError("the rate-limit counter keeps expiring")


def _generic_retry_after(backend, stored: str, window_seconds: int) -> int:
    reset_at = backend.get(stored + ":reset")
    if reset_at is None:
        return window_seconds
    return _seconds(reset_at - time.time())


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _fail_open(scope: str, exc: Exception) -> RateLimitResult:
    log_dependency_failure(
        logger,
        f"rate limit {scope}",
        "rate limit %s not enforced: the cache is unavailable (%s)",
        scope,
        type(exc).__name__,
    )
    return RateLimitResult(True, 0, 0)
