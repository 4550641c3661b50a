"""The one rate limiter: sliding windows, atomic, in Redis, with a PostgreSQL fallback.

Every limit in authsite counts here: the sign-in lockout (accounts/lockout.py),
client authentication (oauth/client_auth.py), registration, password reset and
check, e-mail change and MFA attempts.

- ``hit`` counts one event under a key and says whether the limit still
  allows it; ``enforce`` counts one and, past the limit, raises the one
  :class:`common.exceptions.ThrottledError` with the reason and the wait;
  ``peek`` says whether one more would be allowed without counting;
  ``reset`` forgets a key. ``hit_all`` counts one event under several keys at
  once, all or nothing (the lockout's pair, account and address), and can be
  refused by a *block* (``block``/``unblock``: a key holding an end time).
- **Sliding windows.** A key holds the times of the events it allowed; an
  event counts while it is less than ``window_seconds`` old, so a limit of N
  means at most N events in *any* window of that length, not N per calendar
  window. A refused event is not recorded: a source that keeps knocking is let
  back in as soon as its oldest counted event leaves the window.
  ``retry_after`` is the whole seconds until that happens.
- **Atomic.** With django-redis each call is one Lua script over sorted sets
  of timestamps (ZREMRANGEBYSCORE + ZCARD, then ZADD + PEXPIRE only when every
  limit allows it), so parallel hits from many workers never overshoot. Other
  cache backends keep the list of times in the cache under a process lock:
  atomic for the local-memory cache (one process), not across processes
  sharing the database cache.
- **Fail-open or durable.** A convenience throttle (registration, reset, MFA,
  client authentication) fails open: when the cache raises (Redis down, or
  its circuit breaker open) every call answers "allowed" and never raises,
  and the failure is logged once per scope and
  ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``. A limit whose decision must
  survive Redis passes ``durable=True``: it then counts in PostgreSQL
  (:class:`common.models.RateLimitWindow` rows, incremented under
  ``SELECT ... FOR UPDATE``) whenever Redis does not answer, and always when
  the cache is not Redis (the embedded mode, where the local-memory cache is
  per process). The database counts in fixed windows aligned to
  ``window_seconds``: coarser than the sliding window, never open. Blocks are
  only read from the cache; a durable caller keeps its own authority for them
  (the lockout's ``SignInLock`` rows).

The fallback table belongs to ``common`` (an installed app for that one model)
rather than to accounts: the engine is below every app and imports none, and
any future limit that must survive Redis gets the same fallback by passing
``durable=True``.

Stored keys are ``authsite:rl:<scope>:<sha256>``, where the scope is the part
of the caller's key before the first ``:``; database rows keep the scope and
the digest. Neither client ids, logins nor addresses appear in Redis, in the
database or in the logs.

Time is the caller's ``now`` when given (tests move it), else the clock;
instances must keep their clocks in sync (NTP), as token expiry already requires.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django_redis.cache import RedisCache

from django.core.cache import caches
from django.db import transaction
from django.db.models import F, Q

from common.exceptions import ThrottledError
from common.logging import log_dependency_failure
from common.models import RateLimitWindow

logger = logging.getLogger(__name__)

CACHE_ALIAS = "default"
KEY_PREFIX = "authsite:rl:"
PRUNE_ONE_IN = 200  # database-counted hits per clean-up of ended windows
_SCOPE = re.compile(r"[a-z0-9_.-]{1,40}")

# KEYS: the n counters, then the block keys. ARGV: 1 now (ms), 2 window (ms), 3 member,
# 4 n, 5.. one limit per counter (-1: counted, never refuses).
# Returns {state, ms until a slot frees (or the block ends), count per counter};
# state 1: counted; 0: refused by a limit (counts are what they would have been);
# -1: refused by a block (nothing read or counted, counts -1).
_HIT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = tonumber(ARGV[4])
for i = n + 1, #KEYS do
    local ends = redis.call('GET', KEYS[i])
    if ends and tonumber(ends) > now then
        local out = {-1, tonumber(ends) - now}
        for j = 1, n do out[j + 2] = -1 end
        return out
    end
end
local oldest = now - window
local counts = {}
local refused = false
local wait = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', oldest)
    counts[i] = redis.call('ZCARD', KEYS[i])
    local limit = tonumber(ARGV[4 + i])
    if limit >= 0 and counts[i] >= limit then
        refused = true
        local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
        local left = window
        if first[2] then left = tonumber(first[2]) + window - now end
        if left > wait then wait = left end
    end
end
local out = {0, wait}
if not refused then
    out[1] = 1
    for i = 1, n do
        redis.call('ZADD', KEYS[i], now, ARGV[3])
        redis.call('PEXPIRE', KEYS[i], window)
        local limit = tonumber(ARGV[4 + i])
        if limit >= 0 then
            local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            local left = tonumber(first[2]) + window - now
            if left > wait then wait = left end
        end
    end
    out[2] = wait
end
for i = 1, n do out[i + 2] = counts[i] + 1 end
return out
"""

# KEYS: the counters; ARGV 1 now (ms), 2 window (ms). Returns {count, ms until a slot
# frees} for each counter, in order (one counter for ``peek``, several for ``apeek_all``).
_PEEK_SCRIPT = """
local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
local since = '(' .. oldest
local out = {}
for i = 1, #KEYS do
    local first = redis.call('ZRANGEBYSCORE', KEYS[i], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not first[2] then
        out[2 * i - 1] = 0
        out[2 * i] = 0
    else
        out[2 * i - 1] = redis.call('ZCOUNT', KEYS[i], since, '+inf')
        out[2 * i] = tonumber(first[2]) - oldest
    end
end
return out
"""

_local_lock = threading.Lock()  # the generic cache path: one process at a time


@dataclass(frozen=True)
class RateLimitResult:
    """``allowed``: the event is within the limit; ``count``: the events in the window
    with this one (a refused event is not recorded); ``retry_after``: seconds until the
    oldest counted event leaves the window (0 when nothing is counted, e.g. failing open)."""

    allowed: bool
    count: int
    retry_after: int


@dataclass(frozen=True)
class Hits:
    """The outcome of :func:`hit_all`; pass it to :func:`undo` to take the event back.

    ``counts`` follows the order of the limits; ``blocked`` says a block refused
    (then nothing was counted); ``store`` is where the event was counted:
    ``"redis"``, ``"cache"`` (another cache backend), ``"database"`` or ``"none"``
    (failed open).
    """

    allowed: bool
    counts: tuple[int, ...]
    retry_after: int
    store: str
    blocked: bool = False
    keys: tuple[str, ...] = ()
    member: str = ""
    window_start: datetime | None = None
    window_seconds: int = 0
    counted: bool = field(default=False, repr=False)


# --- the public functions ---------------------------------------------------------------


def hit(
    key: str, *, limit: int, window_seconds: int, durable: bool = False, now: datetime | None = None
) -> RateLimitResult:
    """Count one event under ``key``; allowed while at most ``limit`` events are in the window."""
    result = hit_all([(key, limit)], window_seconds=window_seconds, durable=durable, now=now)
    if result.store == "none":
        return RateLimitResult(True, 0, 0)
    return RateLimitResult(result.allowed, result.counts[0], result.retry_after)


def enforce(
    scope: str,
    key: str,
    *,
    limit: int,
    window_seconds: int,
    message: str,
    durable: bool = False,
    now: datetime | None = None,
) -> RateLimitResult:
    """Count one event under ``key``; past ``limit`` raise :class:`ThrottledError`.

    The error carries ``scope`` (the limit's name for callers and logs),
    ``retry_after``, and ``message`` followed by "Try again in N minutes.", the
    one wording of every wait. The refused event is not counted (see :func:`hit`).
    """
    result = hit(key, limit=limit, window_seconds=window_seconds, durable=durable, now=now)
    if not result.allowed:
        raise ThrottledError.waiting(message, retry_after=result.retry_after, scope=scope)
    return result


def hit_all(
    limits: Sequence[tuple[str, int | None]],
    *,
    window_seconds: int,
    durable: bool = False,
    blocked_by: Iterable[str] = (),
    now: datetime | None = None,
) -> Hits:
    """Count one event under every key of ``limits`` (``(key, limit)``; ``None``: never
    refuses), all or nothing: refused when any key has reached its limit, or when one of
    ``blocked_by`` holds an end time still ahead (see :func:`block`)."""
    keys = tuple(key for key, _ in limits)
    bounds = [(-1 if limit is None else int(limit)) for _, limit in limits]
    blocks = list(blocked_by)
    now_ms = _now_ms(now)
    window_ms = int(window_seconds) * 1000
    member = f"{now_ms}-{secrets.token_hex(6)}"
    scope = _stored_key(keys[0])[0]
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            state, wait_ms, counts = _redis_hit(
                backend, keys, bounds, blocks, now_ms, window_ms, member
            )
            store = "redis"
        elif durable:
            return _database_hit(keys, bounds, now_ms, window_seconds)
        else:
            state, wait_ms, counts = _generic_hit(
                backend, keys, bounds, blocks, now_ms, window_ms, member
            )
            store = "cache"
    except Exception as exc:  # a limit must never take the endpoint down
        if durable:
            _cache_failed(
                scope, exc, "rate limit %s counts in the database: Redis is unavailable (%s)"
            )
            return _database_hit(keys, bounds, now_ms, window_seconds)
        _cache_failed(scope, exc)
        return Hits(True, tuple(0 for _ in keys), 0, "none", keys=keys)
    return Hits(
        allowed=state == 1,
        counts=tuple(counts),
        retry_after=_seconds(wait_ms / 1000) if wait_ms > 0 else 0,
        store=store,
        blocked=state == -1,
        keys=keys,
        member=member,
        window_seconds=int(window_seconds),
        counted=state == 1,
    )


def peek(
    key: str, *, limit: int, window_seconds: int, durable: bool = False, now: datetime | None = None
) -> RateLimitResult:
    """Whether one more hit would be allowed, without counting it."""
    scope, stored = _stored_key(key)
    now_ms = _now_ms(now)
    window_ms = int(window_seconds) * 1000
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            client = backend.client.get_client(write=True)
            count, wait_ms = client.register_script(_PEEK_SCRIPT)(
                keys=[backend.make_key(stored)], args=[now_ms, window_ms]
            )
            count, wait_ms = int(count), int(wait_ms)
        elif durable:
            return _database_peek(key, limit, now_ms, window_seconds)
        else:
            times = _live(backend.get(stored), now_ms, window_ms)
            count = len(times)
            wait_ms = min(t for t, _ in times) + window_ms - now_ms if times else 0
    except Exception as exc:
        if durable:
            _cache_failed(
                scope, exc, "rate limit %s counts in the database: Redis is unavailable (%s)"
            )
            return _database_peek(key, limit, now_ms, window_seconds)
        _cache_failed(scope, exc)
        return RateLimitResult(True, 0, 0)
    return RateLimitResult(count < limit, count, _seconds(wait_ms / 1000) if count else 0)


def reset(key: str, *, durable: bool = False) -> None:
    """Forget every event counted under ``key`` (e.g. after an operator unblocks a source);
    ``durable`` also forgets the database's windows of the key."""
    scope, stored = _stored_key(key)
    try:
        caches[CACHE_ALIAS].delete(stored)
    except Exception as exc:
        _cache_failed(scope, exc)
    if durable:
        RateLimitWindow.objects.filter(scope=scope, key=_digest(key)).delete()


def undo(hits: Hits, *, forget: Iterable[str] = ()) -> None:
    """Take back the event ``hits`` counted (it turned out not to count, e.g. a good
    sign-in), and forget everything counted under the keys in ``forget`` (in the
    database: in the event's window). Best effort when the cache fails."""
    if not hits.counted:
        return
    forget = [key for key in forget if key in hits.keys]
    if hits.store == "database":
        for key in hits.keys:
            scope = _stored_key(key)[0]
            rows = RateLimitWindow.objects.filter(
                scope=scope, key=_digest(key), window_start=hits.window_start, count__gt=0
            )
            rows.update(count=0 if key in forget else F("count") - 1)
        return
    stored = [_stored_key(key)[1] for key in hits.keys]
    scope = _stored_key(hits.keys[0])[0]
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            names = [backend.make_key(key) for key in stored]
            pipe = backend.client.get_client(write=True).pipeline(transaction=True)
            for key, name in zip(hits.keys, names, strict=True):
                if key in forget:
                    pipe.delete(name)
                else:
                    pipe.zrem(name, hits.member)
            pipe.execute()
        else:
            with _local_lock:
                for key, name in zip(hits.keys, stored, strict=True):
                    if key in forget:
                        backend.delete(name)
                        continue
                    times = [e for e in backend.get(name) or [] if e[1] != hits.member]
                    backend.set(name, times, max(1, hits.window_seconds))
    except Exception as exc:
        _cache_failed(scope, exc)


def block(key: str, *, until: datetime, now: datetime | None = None) -> None:
    """Refuse every :func:`hit_all` naming ``key`` in ``blocked_by`` until ``until``
    (kept in the cache only, best effort: the caller holds the authority)."""
    scope, stored = _stored_key(key)
    ends_ms = _now_ms(until)
    ms_left = ends_ms - _now_ms(now)
    if ms_left <= 0:
        return
    try:
        backend = caches[CACHE_ALIAS]
        if _is_django_redis(backend):
            backend.client.get_client(write=True).set(backend.make_key(stored), ends_ms, px=ms_left)
        else:
            backend.set(stored, ends_ms, math.ceil(ms_left / 1000))
    except Exception as exc:
        _cache_failed(scope, exc)


def unblock(key: str) -> None:
    """End a :func:`block` early."""
    reset(key)


def stale_windows(before: datetime, *, scopes: Iterable[str]):
    """The database windows of ``scopes`` that started before ``before`` (for retention)."""
    return RateLimitWindow.objects.filter(scope__in=list(scopes), window_start__lt=before)


# --- keys and time -------------------------------------------------------------------------


def _stored_key(key: str) -> tuple[str, str]:
    scope = key.partition(":")[0]
    if not _SCOPE.fullmatch(scope):
        scope = "key"
    return scope, f"{KEY_PREFIX}{scope}:{_digest(key)}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now_ms(now: datetime | None) -> int:
    return int((now.timestamp() if now is not None else time.time()) * 1000)


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _is_django_redis(backend) -> bool:
    return isinstance(backend, RedisCache)


# --- Redis ---------------------------------------------------------------------------------


def _redis_hit(backend, keys, bounds, blocks, now_ms, window_ms, member):
    client = backend.client.get_client(write=True)
    script = client.register_script(_HIT_SCRIPT)
    names = [backend.make_key(_stored_key(key)[1]) for key in [*keys, *blocks]]
    state, wait_ms, *counts = script(
        keys=names, args=[now_ms, window_ms, member, len(keys), *bounds]
    )
    return int(state), int(wait_ms), [int(count) for count in counts]


# --- Redis from an event loop (the native fast path, oauth/fastpath/) -----------------------
# The same scripts, keys and semantics as ``hit``/``peek`` above, on a redis.asyncio client,
# so a limit counted by Django and one counted by the fast path are one limit.

HIT_SCRIPT = _HIT_SCRIPT
PEEK_SCRIPT = _PEEK_SCRIPT


def redis_name(key: str) -> str | None:
    """The Redis key under which ``key`` counts, or None when the cache is not Redis."""
    backend = caches[CACHE_ALIAS]
    if not _is_django_redis(backend):
        return None
    return backend.make_key(_stored_key(key)[1])


async def apeek_all(
    client, limits: Sequence[tuple[str, int]], *, window_seconds: int, on_failure=None
) -> list[RateLimitResult]:
    """``peek`` for several ``(key, limit)`` in one round trip (one run of the same
    script); fails open like ``peek`` (``on_failure(exc)`` is told, e.g. to open the
    caller's circuit breaker)."""
    now_ms = _now_ms(None)
    window_ms = int(window_seconds) * 1000
    try:
        names = [redis_name(key) for key, _ in limits]
        if None in names:
            raise RuntimeError("the cache is not Redis")
        answer = await _script(client, PEEK_SCRIPT)(keys=names, args=[now_ms, window_ms])
    except Exception as exc:
        if on_failure is not None:
            on_failure(exc)
        _cache_failed(_stored_key(limits[0][0])[0], exc)
        return [RateLimitResult(True, 0, 0) for _ in limits]
    results = []
    for index, (_key, limit) in enumerate(limits):
        count, wait_ms = int(answer[2 * index]), int(answer[2 * index + 1])
        results.append(
            RateLimitResult(count < limit, count, _seconds(wait_ms / 1000) if count else 0)
        )
    return results


_scripts: dict[str, object] = {}


def _script(client, source: str):
    """The script, registered once per process (registering hashes the source), run on
    ``client``."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    return functools.partial(script, client=client)


async def ahit(client, key: str, *, limit: int, window_seconds: int) -> RateLimitResult:
    """``hit`` on a redis.asyncio client (the same Lua script); fails open like ``hit``."""
    now_ms = _now_ms(None)
    window_ms = int(window_seconds) * 1000
    member = f"{now_ms}-{secrets.token_hex(6)}"
    try:
        name = redis_name(key)
        if name is None:
            raise RuntimeError("the cache is not Redis")
        state, wait_ms, *counts = await _script(client, HIT_SCRIPT)(
            keys=[name], args=[now_ms, window_ms, member, 1, int(limit)]
        )
    except Exception as exc:
        _cache_failed(_stored_key(key)[0], exc)
        return RateLimitResult(True, 0, 0)
    wait_ms = int(wait_ms)
    return RateLimitResult(
        int(state) == 1, int(counts[0]), _seconds(wait_ms / 1000) if wait_ms > 0 else 0
    )


# --- other cache backends ------------------------------------------------------------------


def _live(entries, now_ms: int, window_ms: int) -> list[tuple[int, str]]:
    return [(t, m) for t, m in entries or [] if t > now_ms - window_ms]


def _generic_hit(backend, keys, bounds, blocks, now_ms, window_ms, member):
    stored = [_stored_key(key)[1] for key in keys]
    with _local_lock:
        for name in blocks:
            ends = backend.get(_stored_key(name)[1])
            if ends is not None and ends > now_ms:
                return -1, ends - now_ms, [-1 for _ in keys]
        found = backend.get_many(stored)
        lives = [_live(found.get(name), now_ms, window_ms) for name in stored]
        wait = 0
        refused = False
        for times, limit in zip(lives, bounds, strict=True):
            if limit >= 0 and len(times) >= limit:
                refused = True
                wait = max(
                    wait, min(t for t, _ in times) + window_ms - now_ms if times else window_ms
                )
        counts = [len(times) + 1 for times in lives]
        if refused:
            return 0, wait, counts
        timeout = math.ceil(window_ms / 1000)
        for name, times, limit in zip(stored, lives, bounds, strict=True):
            times.append((now_ms, member))
            backend.set(name, times, timeout)
            if limit >= 0:
                wait = max(wait, min(t for t, _ in times) + window_ms - now_ms)
        return 1, wait, counts


# --- the database fallback -----------------------------------------------------------------


def _window_start(now_ms: int, window_seconds: int) -> datetime:
    start = now_ms // 1000 // window_seconds * window_seconds
    return datetime.fromtimestamp(start, tz=UTC)


def _database_hit(keys, bounds, now_ms: int, window_seconds: int) -> Hits:
    """Count in fixed windows under row locks, refusing at the limits (all or nothing)."""
    window_start = _window_start(now_ms, window_seconds)
    wanted = [(_stored_key(key)[0], _digest(key)) for key in keys]
    with transaction.atomic():
        RateLimitWindow.objects.bulk_create(
            [RateLimitWindow(scope=s, key=k, window_start=window_start) for s, k in wanted],
            ignore_conflicts=True,
        )
        match = Q()
        for scope, digest in wanted:
            match |= Q(scope=scope, key=digest)
        rows = {
            (row.scope, row.key): row
            for row in RateLimitWindow.objects.select_for_update()
            .filter(match, window_start=window_start)
            .order_by("scope", "key")
        }
        counts = [rows[pair].count for pair in wanted]
        refused = any(
            limit >= 0 and count >= limit for count, limit in zip(counts, bounds, strict=True)
        )
        if not refused:
            RateLimitWindow.objects.filter(pk__in=[row.pk for row in rows.values()]).update(
                count=F("count") + 1
            )
    ends_ms = int(window_start.timestamp() * 1000) + window_seconds * 1000
    if not refused and secrets.randbelow(PRUNE_ONE_IN) == 0:
        # Windows long past count for nothing; an occasional hit clears them away.
        RateLimitWindow.objects.filter(
            scope__in={scope for scope, _ in wanted},
            window_start__lt=window_start - timedelta(seconds=window_seconds),
        ).delete()
    return Hits(
        allowed=not refused,
        counts=tuple(count + 1 for count in counts),
        retry_after=_seconds((ends_ms - now_ms) / 1000),
        store="database",
        keys=tuple(keys),
        window_start=window_start,
        window_seconds=window_seconds,
        counted=not refused,
    )


def _database_peek(key: str, limit: int, now_ms: int, window_seconds: int) -> RateLimitResult:
    window_start = _window_start(now_ms, window_seconds)
    row = RateLimitWindow.objects.filter(
        scope=_stored_key(key)[0], key=_digest(key), window_start=window_start
    ).first()
    count = row.count if row is not None else 0
    ends_ms = int(window_start.timestamp() * 1000) + window_seconds * 1000
    return RateLimitResult(
        count < limit, count, _seconds((ends_ms - now_ms) / 1000) if count else 0
    )


# --- failures ------------------------------------------------------------------------------


def _cache_failed(
    scope: str,
    exc: Exception,
    message: str = "rate limit %s not enforced: the cache is unavailable (%s)",
) -> None:
    log_dependency_failure(logger, f"rate limit {scope}", message, scope, type(exc).__name__)
