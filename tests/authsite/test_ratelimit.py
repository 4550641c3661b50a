"""common.ratelimit: atomic sliding-window limits that fail open, or count in PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis.asyncio as redis_asyncio
from django_redis.cache import RedisCache

from django.core.cache import caches

from common import ratelimit
from common.exceptions import ThrottledError
from common.models import RateLimitWindow
from tests.support.own_redis import UNREACHABLE_REDIS

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, settings):
    """The local-memory cache, or the configured Redis (counters there outlive the test:
    every test uses fresh keys)."""
    if request.param == "locmem":
        settings.CACHES = {"default": {**LOCMEM, "LOCATION": f"ratelimit-{uuid.uuid4().hex}"}}
    elif not isinstance(caches["default"], RedisCache):
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": settings.AUTHSITE_REDIS_URL,
            }
        }
    return request.param


@pytest.fixture
def key():
    return f"test:{uuid.uuid4().hex}"


def test_parallel_hits_never_overshoot_the_limit(backend, key):
    """20 threads × 5 hits against a limit of 50: exactly 50 are allowed."""
    results: list[ratelimit.RateLimitResult] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def worker():
        start.wait()
        mine = [ratelimit.hit(key, limit=50, window_seconds=60) for _ in range(5)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(result.allowed for result in results) == 50
    # Each allowed hit saw a distinct count; a refused one is not recorded.
    assert sorted(result.count for result in results if result.allowed) == list(range(1, 51))
    assert all(result.count == 51 for result in results if not result.allowed)
    assert ratelimit.peek(key, limit=50, window_seconds=60).count == 50


def test_hits_are_allowed_up_to_the_limit_and_say_when_to_retry(backend, key):
    outcomes = [ratelimit.hit(key, limit=3, window_seconds=60) for _ in range(4)]
    assert [result.allowed for result in outcomes] == [True, True, True, False]
    assert [result.count for result in outcomes] == [1, 2, 3, 4]
    assert all(0 < result.retry_after <= 60 for result in outcomes)


def test_enforce_refuses_past_the_limit_with_the_reason_and_the_wait(backend, key):
    """The one throttle error: its scope, Retry-After seconds and "Try again in N minutes"."""
    for _ in range(2):
        ratelimit.enforce("test", key, limit=2, window_seconds=120, message="Too many tries.")
    with pytest.raises(ThrottledError) as refused:
        ratelimit.enforce("test", key, limit=2, window_seconds=120, message="Too many tries.")
    error = refused.value
    assert (error.scope, error.status) == ("test", 429)
    assert 60 < error.retry_after <= 120
    assert error.message == "Too many tries. Try again in 2 minutes."
    assert ratelimit.peek(key, limit=2, window_seconds=120).count == 2  # refused: not counted


def test_peek_does_not_count(backend, key):
    """peek answers "would one more hit be allowed?" and leaves the count alone."""
    assert ratelimit.peek(key, limit=2, window_seconds=60) == ratelimit.RateLimitResult(True, 0, 0)
    ratelimit.hit(key, limit=2, window_seconds=60)
    assert ratelimit.peek(key, limit=2, window_seconds=60).allowed
    ratelimit.hit(key, limit=2, window_seconds=60)
    full = ratelimit.peek(key, limit=2, window_seconds=60)
    assert (full.allowed, full.count) == (False, 2)
    assert 0 < full.retry_after <= 60
    assert ratelimit.peek(key, limit=2, window_seconds=60).count == 2


def test_reset_forgets_the_count(backend, key):
    for _ in range(3):
        ratelimit.hit(key, limit=2, window_seconds=60)
    ratelimit.reset(key)
    assert ratelimit.peek(key, limit=2, window_seconds=60) == ratelimit.RateLimitResult(True, 0, 0)
    assert ratelimit.hit(key, limit=2, window_seconds=60).count == 1


def test_a_refused_hit_does_not_extend_the_window(backend, key):
    ratelimit.hit(key, limit=1, window_seconds=1)
    time.sleep(0.5)
    assert not ratelimit.hit(key, limit=1, window_seconds=1).allowed
    time.sleep(0.7)
    fresh = ratelimit.hit(key, limit=1, window_seconds=1)
    assert (fresh.allowed, fresh.count) == (True, 1)


def test_the_window_slides_each_event_counts_for_window_seconds_from_its_own_time(backend, key):
    """Limit 2 in 2 s: hits at 0 s and 1 s fill it; at 2.2 s the first has left the
    window (one slot frees, not the whole window), and the second still counts."""
    ratelimit.hit(key, limit=2, window_seconds=2)
    time.sleep(1)
    ratelimit.hit(key, limit=2, window_seconds=2)
    assert not ratelimit.hit(key, limit=2, window_seconds=2).allowed
    time.sleep(1.2)
    slid = ratelimit.hit(key, limit=2, window_seconds=2)
    assert (slid.allowed, slid.count) == (True, 2)
    refused = ratelimit.hit(key, limit=2, window_seconds=2)
    assert not refused.allowed
    assert refused.retry_after == 1  # the 1 s hit leaves the window 0.8 s from now


def test_keys_are_namespaced_and_hashed(backend):
    """Stored keys name the scope only, never the client id or address they count."""
    secret_part = f"client-{uuid.uuid4().hex}|192.0.2.7"
    ratelimit.hit(f"test-scope:{secret_part}", limit=5, window_seconds=60)
    if backend == "redis":
        stored = [
            key.decode()
            for key in caches["default"].client.get_client().scan_iter("*authsite:rl:test-scope:*")
        ]
    else:
        stored = list(caches["default"]._cache)
    assert stored
    assert not [key for key in stored if secret_part in key or "192.0.2.7" in key]
    assert any(":authsite:rl:test-scope:" in key for key in stored)


def test_an_unreachable_cache_fails_open_and_warns_once(settings, caplog, key):
    """Redis down: every call allows, nothing raises, one warning per call site."""
    settings.CACHES = UNREACHABLE_REDIS
    scope = f"down-{uuid.uuid4().hex[:12]}"
    with caplog.at_level(logging.WARNING, logger="common.ratelimit"):
        results = [ratelimit.hit(f"{scope}:client-x", limit=1, window_seconds=60) for _ in range(3)]
        results.append(ratelimit.peek(f"{scope}:client-x", limit=1, window_seconds=60))
        ratelimit.reset(f"{scope}:client-x")
    assert all(result == ratelimit.RateLimitResult(True, 0, 0) for result in results)
    warnings = [record for record in caplog.records if record.name == "common.ratelimit"]
    assert len(warnings) == 1
    assert scope in warnings[0].getMessage()
    assert "client-x" not in warnings[0].getMessage()


def test_hit_all_counts_every_key_or_none(backend, key):
    """One event under several keys: refused as a whole once any key is at its limit."""
    other = f"{key}-other"
    first = ratelimit.hit_all([(key, 1), (other, None)], window_seconds=60)
    assert (first.allowed, first.counts) == (True, (1, 1))
    second = ratelimit.hit_all([(key, 1), (other, None)], window_seconds=60)
    assert not second.allowed and 0 < second.retry_after <= 60
    assert ratelimit.peek(other, limit=5, window_seconds=60).count == 1
    ratelimit.undo(first)
    assert ratelimit.peek(key, limit=1, window_seconds=60).count == 0
    assert ratelimit.peek(other, limit=5, window_seconds=60).count == 0


def test_a_block_refuses_until_it_ends(backend, key):
    from django.utils import timezone

    now = timezone.now()
    ratelimit.block(f"{key}-block", until=now + timedelta(seconds=30), now=now)
    blocked = ratelimit.hit_all([(key, 5)], window_seconds=60, blocked_by=[f"{key}-block"], now=now)
    assert blocked.blocked and not blocked.allowed and 29 <= blocked.retry_after <= 30
    assert ratelimit.peek(key, limit=5, window_seconds=60).count == 0  # nothing counted
    ratelimit.unblock(f"{key}-block")
    assert ratelimit.hit_all([(key, 5)], window_seconds=60, blocked_by=[f"{key}-block"]).allowed


@pytest.mark.django_db
def test_a_durable_limit_counts_in_postgresql_while_redis_is_unreachable(settings, key):
    """durable=True never fails open: without Redis the database counts and refuses."""
    settings.CACHES = UNREACHABLE_REDIS
    results = [ratelimit.hit(key, limit=2, window_seconds=60, durable=True) for _ in range(3)]
    assert [(result.allowed, result.count) for result in results] == [
        (True, 1),
        (True, 2),
        (False, 3),
    ]
    row = RateLimitWindow.objects.get()
    assert (row.scope, row.count) == ("test", 2) and key not in row.key
    assert not ratelimit.peek(key, limit=2, window_seconds=60, durable=True).allowed
    ratelimit.reset(key, durable=True)
    assert ratelimit.peek(key, limit=2, window_seconds=60, durable=True).count == 0


@pytest.mark.redis
def test_the_async_port_counts_what_the_sync_engine_counts(redis_url, key):
    """The fast path's ``apeek_all``/``ahit`` (redis.asyncio, oauth/fastpath/) read and write
    the same keys with the same scripts: a limit is one limit whichever side counts."""
    other = f"{key}-other"
    for _ in range(3):
        ratelimit.hit(key, limit=5, window_seconds=60)

    async def async_side():
        client = redis_asyncio.Redis.from_url(redis_url)
        try:
            counted = await ratelimit.ahit(client, other, limit=1, window_seconds=60)
            peeked = await ratelimit.apeek_all(client, [(key, 3), (other, 5)], window_seconds=60)
            return counted, peeked
        finally:
            await client.aclose()

    counted, peeked = asyncio.run(async_side())
    assert counted.allowed and counted.count == 1
    assert [(p.allowed, p.count) for p in peeked] == [(False, 3), (True, 1)]
    assert peeked[0] == ratelimit.peek(key, limit=3, window_seconds=60)
    assert ratelimit.peek(other, limit=1, window_seconds=60).allowed is False
