"""A per-process bound on password hashing, and no database connection held across it.

An Argon2id verification costs a core for tens of milliseconds and the
hasher's ``memory_cost`` (100 MiB with Django's parameters). Under ASGI every
sync view runs in its own thread, so without a bound a burst of sign-ins
hashes all at once: each one slower, the worker's memory growing by 100 MiB
per concurrent hash, and each request holding its pooled database connection
the whole time until the pool runs dry and unrelated requests get 503s.

:func:`password_slot` is the one gate: it returns the request's database
connection to the pool, waits up to ``AUTHSITE_PASSWORD_HASH_WAIT_SECONDS``
for one of ``AUTHSITE_PASSWORD_HASH_CONCURRENCY`` slots (0, the default: one per usable
CPU) and raises :class:`~common.exceptions.BusyError` (a 503 with
``Retry-After``) when none frees in time, before anything is counted or
audited. Inside the slot, :func:`release_connection` hands the connection
back again right before each hash; Django opens one from the pool on the next
query. Inside a transaction nothing is released (the transaction needs it), so
flows that store a new password hash it first, with :func:`hash_password`, and
open their transaction afterwards.

Every Argon2id run a request can cause goes through this gate: the sign-in
backend, :func:`check_password` (the current password re-entered to change the
password or e-mail address or to manage MFA) and :func:`hash_password` (reset,
change, registration, an operator's new password).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth.hashers import make_password
from django.db import connection

from common.conf import authsite_settings
from common.exceptions import BusyError

_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def slot_count() -> int:
    """The configured bound, 0 resolved to the CPUs this process may run on."""
    configured = authsite_settings.PASSWORD_HASH_CONCURRENCY
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _semaphore() -> threading.BoundedSemaphore:
    """The process's semaphore; built again only when the setting changes (tests)."""
    global _slots
    size = slot_count()
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


def release_connection() -> None:
    """Give the request's database connection back to the pool, unless a transaction holds it."""
    if not connection.in_atomic_block:
        connection.close()


@contextmanager
def password_slot() -> Iterator[None]:
    """Hold one of the process's password-hash slots, or raise ``BusyError`` after the wait."""
    release_connection()  # nobody waits for a slot holding a connection
    semaphore = _semaphore()
    wait = authsite_settings.PASSWORD_HASH_WAIT_SECONDS
    if not semaphore.acquire(timeout=max(0.0, wait)):
        raise BusyError(retry_after=max(1, math.ceil(wait)))
    try:
        yield
    finally:
        semaphore.release()


def hash_password(raw_password: str) -> str:
    """The stored form of ``raw_password`` (Argon2id), hashed inside a slot.

    Call it before opening the transaction that stores the result: inside one, the
    connection cannot be handed back and would be held for the whole hash.
    """
    with password_slot():
        release_connection()
        return make_password(raw_password)


def check_password(user, raw_password: str) -> bool:
    """``user.check_password`` inside a slot, with no pooled connection held across it.

    Django re-hashes and saves an outdated stored hash after a match; that save takes
    a connection from the pool again.
    """
    with password_slot():
        release_connection()
        return user.check_password(raw_password)
