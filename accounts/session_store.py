"""Sessions in the database with Redis in front, where the database always has the last word.

Django's ``cached_db`` engine has two faults this store removes:

- A cache error escapes from ``load``, ``exists`` and ``delete``, so an
  unreachable Redis turns every signed-in page into a 500. Here the cache is
  only an accelerator: an error counts as a miss (reads) or is skipped
  (writes), and PostgreSQL, which always holds the session, answers.
- A session deleted while Redis could not be reached (a sign-out, "sign out
  all other sessions", a password change) stayed in the cache, and once Redis
  answered again the old cookie was signed in.

Why a signed-in copy in the cache can be trusted (the session *epoch*):

- Every user row carries ``session_epoch``. Each cached copy of a signed-in
  session is stored with the epoch that was current when its data was read
  from, or written to, PostgreSQL (read in the same statement as the row on a
  miss; read before the write on a save).
- The epoch moves (``bump_epoch``) *after* the database changes it guards:
  whenever one of the user's sessions ends (sign-out, ending other sessions,
  password change or reset, MFA removal, ``disableuser``), and whenever a
  cached copy of a signed-in session could not be updated or deleted.
- ``accounts.sessions.get_user`` compares the copy's epoch with the user's
  current epoch, which comes in the user row the request loads anyway: a
  copy of an older epoch is dropped and the session is read again from the
  database, where an ended session no longer exists. A copy can therefore
  only be trusted when no session of that user ended, and no write of one of
  its sessions missed the cache, since the copy was made.

Costs: a signed-in request served from the cache makes no session query at
all (as with ``cached_db``); a sign-out costs one UPDATE, and each other
session of that user one database read at its next request. Anonymous
sessions (no signed-in user) are taken from the cache as they are: there is
no sign-in a stale copy could bring back.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.contrib.sessions.models import Session
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from accounts.models import User, UserSession
from common.logging import log_dependency_failure

logger = logging.getLogger(__name__)

# A new prefix: copies in the format of plain ``cached_db`` are never read.
CACHE_KEY_PREFIX = "authsite.session.v2:"


class _TolerantCache:
    """The session cache, with every error logged and treated as 'not cached'.

    Writes and deletes return whether the cache took them, so the store can
    move the user's epoch when a copy may have been left behind.
    """

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

    def set(self, key, value, timeout=None) -> bool:
        try:
            self._cache.set(key, value, timeout)
        except Exception as exc:
            self._failed("set", exc)
            return False
        return True

    def delete(self, key) -> bool:
        try:
            self._cache.delete(key)
        except Exception as exc:
            self._failed("delete", exc)
            return False
        return True

    def __contains__(self, key) -> bool:
        try:
            return key in self._cache
        except Exception as exc:
            self._failed("exists", exc)
            return False

    def __str__(self) -> str:
        return str(self._cache)


def bump_epoch(user_id) -> None:
    """Distrust every cached session of the user: each is read from the database next time.

    Call it *after* the database change it guards has been written (a session
    row deleted or updated), never before: a copy made in between would carry
    the new epoch.
    """
    if user_id is not None:
        User.objects.filter(pk=user_id).update(session_epoch=F("session_epoch") + 1)


def _tracked_user(session_key: str):
    return (
        UserSession.objects.filter(session_key=session_key)
        .values_list("user_id", flat=True)
        .first()
    )


def _user_id(data: dict):
    value = data.get(SESSION_KEY)
    return str(value) if value is not None else None


class SessionStore(CachedDBStore):
    cache_key_prefix = CACHE_KEY_PREFIX

    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _TolerantCache(self._cache)
        # The epoch of a signed-in copy this store took from the cache: still
        # to be compared with the user's (accounts.sessions.get_user).
        self.cached_epoch: int | None = None
        # (user id, epoch) read no later than the data this store holds.
        self._known_epoch: tuple[str, int] | None = None

    # --- reading --------------------------------------------------------------------

    def load(self):
        self.cached_epoch = None
        entry = self._cache.get(self.cache_key)
        if isinstance(entry, dict) and isinstance(entry.get("data"), dict):
            data, epoch = entry["data"], entry.get("epoch")
            user_id = _user_id(data)
            if user_id is None:
                return data
            if isinstance(epoch, int):
                self.cached_epoch = epoch
                self._known_epoch = (user_id, epoch)
                return data
        return self._load_from_database()

    def _load_from_database(self) -> dict:
        """Read the row and its user's epoch in one statement (one snapshot), then cache both."""
        tracked = UserSession.objects.filter(session_key=OuterRef("session_key"))
        row = (
            Session.objects.filter(session_key=self.session_key, expire_date__gt=timezone.now())
            .annotate(
                tracked_user=Subquery(tracked.values("user_id")[:1]),
                epoch=Subquery(tracked.values("user__session_epoch")[:1]),
            )
            .values_list("session_data", "expire_date", "tracked_user", "epoch")
            .first()
        )
        if row is None:
            self._session_key = None
            return {}
        session_data, expire_date, tracked_user, epoch = row
        data = self.decode(session_data)
        user_id = _user_id(data)
        if user_id is not None and (epoch is None or str(tracked_user) != user_id):
            return data  # no epoch to vouch for a copy: served from the database each time
        self._known_epoch = (user_id, epoch) if user_id is not None else None
        self._cache.set(
            self.cache_key,
            {"data": data, "epoch": epoch},
            self.get_expiry_age(expiry=expire_date),
        )
        return data

    def reload_from_database(self) -> None:
        """Drop the cached copy this store holds and read the session again from PostgreSQL."""
        self.cached_epoch = None
        self._known_epoch = None
        self._cache.delete(self.cache_key)
        self._session_cache = self._load_from_database() if self.session_key else {}

    def exists(self, session_key):
        # Only asked when choosing a new key: the database is the authority.
        return DBStore.exists(self, session_key)

    # --- writing --------------------------------------------------------------------

    def save(self, must_create=False):
        data = self._get_session(no_load=must_create)
        user_id = _user_id(data)
        epoch = None
        if user_id is not None:
            epoch = self._epoch_before_write(user_id)
        DBStore.save(self, must_create)
        if not self._cache.set(
            self.cache_key, {"data": data, "epoch": epoch}, self.get_expiry_age()
        ):
            bump_epoch(user_id)  # an older copy may still be there

    def _epoch_before_write(self, user_id: str) -> int:
        if self._known_epoch is not None and self._known_epoch[0] == user_id:
            return self._known_epoch[1]
        epoch = User.objects.filter(pk=user_id).values_list("session_epoch", flat=True).first() or 0
        self._known_epoch = (user_id, epoch)
        return epoch

    def delete(self, session_key=None):
        """Delete a session; when the cache missed the delete, distrust its user's copies."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        loaded = getattr(self, "_session_cache", None)
        if loaded is None:  # deleted by key (ending another session): whose it is, if tracked
            user_id = _tracked_user(session_key)
        else:  # this store's data (in cycle_key, the same data moving to its new key)
            user_id = _user_id(loaded)
        DBStore.delete(self, session_key)
        if not self._cache.delete(self.cache_key_prefix + session_key):
            bump_epoch(user_id)

    def flush(self):
        """End this session (sign-out): delete it, then move its user's epoch."""
        user_id = _user_id(getattr(self, "_session_cache", None) or {})
        self.clear()
        self.delete()
        self._session_key = None
        self._known_epoch = None
        self.cached_epoch = None
        bump_epoch(user_id)  # after the delete: a copy read before it carries the old epoch

    # --- async: the same code in a thread (the middleware saves in a thread anyway) ---

    async def aload(self):
        return await sync_to_async(self.load)()

    async def aexists(self, session_key):
        return await sync_to_async(self.exists)(session_key)

    async def asave(self, must_create=False):
        await sync_to_async(self.save)(must_create)

    async def adelete(self, session_key=None):
        await sync_to_async(self.delete)(session_key)

    async def aflush(self):
        await sync_to_async(self.flush)()
