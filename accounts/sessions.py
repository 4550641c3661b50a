"""How and when the user of a session signed in, for the OIDC auth_time/amr/acr/sid claims."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from importlib import import_module

from asgiref.sync import sync_to_async

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    _get_user_session_key,
    load_backend,
)
from django.contrib.auth import get_user as django_get_user
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.lockout import _delete_in_batches
from accounts.models import UserSession
from accounts.session_store import bump_epoch
from audit.events import Action
from audit.services import record
from common.conf import authsite_settings
from common.net import client_ip

AUTH_TIME_KEY = "authsite_auth_time"
AMR_KEY = "authsite_amr"


def record_sign_in(session, *, methods: list[str]) -> None:
    """Remember the sign-in time and the methods used (RFC 8176 names, e.g. ``pwd``, ``otp``)."""
    session[AUTH_TIME_KEY] = int(time.time())
    session[AMR_KEY] = list(methods)


def auth_details(session) -> tuple[int | None, list[str]]:
    """Return (auth_time, amr) for the session's sign-in, or (None, []) when unknown."""
    return session.get(AUTH_TIME_KEY), list(session.get(AMR_KEY, []))


def session_id(session) -> str:
    """A stable identifier of the session that never reveals the session key (OIDC ``sid``)."""
    key = session.session_key or ""
    return hashlib.sha256(f"authsite-sid:{key}".encode()).hexdigest()[:32] if key else ""


# ---------------------------------------------------------------------------
# Signed-in sessions as the account page lists them (``UserSession`` rows).
#
# A row is written at sign-in and removed at sign-out. "Last seen" is refreshed
# lazily (at sign-in and when the account page is shown), at most once a minute
# per session: no middleware writes on every request, so it is a lower bound
# with that granularity, not a live activity clock.
# ---------------------------------------------------------------------------

LAST_SEEN_GRANULARITY_SECONDS = 60
USER_AGENT_MAX_LENGTH = 512

_BROWSERS = (  # order matters: Edge and Opera also say "Chrome", Chrome also says "Safari"
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (  # Android says "Linux", iOS says "like Mac OS X"
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str) -> str:
    """A short label such as "Firefox on Linux"; a rough guess for people, never for decisions."""
    user_agent = (user_agent or "").strip()
    if not user_agent:
        return "Unknown device"
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    # A program rather than a browser (curl/8.5, python-httpx/0.27): its first product name.
    return user_agent.split("/", 1)[0].split(" ", 1)[0][:40] or "Unknown device"


def _session_store(session_key: str | None = None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def start_tracking(request, user) -> None:
    """Write the ``UserSession`` row of the session ``login()`` has just created."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if session.session_key is None:
        session.save()  # login() has cycled the key already; this only happens without it
    _, methods = auth_details(session)
    UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "ip": client_ip(request),
            "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH],
            "methods": " ".join(methods)[:100],
            "last_seen": timezone.now(),
        },
    )


def stop_tracking(request) -> None:
    """Remove the row of the session that is signing out (``user_logged_out``)."""
    session = getattr(request, "session", None) if request is not None else None
    if session is not None and session.session_key:
        UserSession.objects.filter(session_key=session.session_key).delete()


def touch_session(request) -> None:
    """Refresh "last seen", address and device of the request's session, at most once a minute.

    One UPDATE that matches nothing when the row is fresh; a session signed in
    before tracking existed gets its row here.
    """
    key = request.session.session_key
    if not key or not request.user.is_authenticated:
        return
    now = timezone.now()
    fields = {
        "last_seen": now,
        "ip": client_ip(request),
        "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH],
    }
    stale = now - timedelta(seconds=LAST_SEEN_GRANULARITY_SECONDS)
    mine = UserSession.objects.filter(session_key=key, user=request.user)
    if mine.filter(last_seen__lt=stale).update(**fields) or mine.exists():
        return
    _, methods = auth_details(request.session)
    UserSession.objects.update_or_create(
        session_key=key,
        defaults={"user": request.user, "methods": " ".join(methods)[:100], **fields},
    )


def list_sessions(user):
    """The user's live sessions, newest activity first; rows of dead sessions are pruned.

    A session is live when Django still has it, unexpired, for this user with
    the current password (its auth hash): after a password change the other
    sessions are dead even though their rows were not removed yet.
    """
    rows = list(UserSession.objects.filter(user=user).order_by("-last_seen", "-pk"))
    stored = Session.objects.filter(
        session_key__in=[row.session_key for row in rows], expire_date__gt=timezone.now()
    )
    live = set()
    auth_hash = user.get_session_auth_hash()
    for session in stored:
        data = session.get_decoded()
        if str(data.get(SESSION_KEY)) == str(user.pk) and constant_time_compare(
            data.get(HASH_SESSION_KEY, ""), auth_hash
        ):
            live.add(session.session_key)
    dead = [row.pk for row in rows if row.session_key not in live]
    if dead:
        UserSession.objects.filter(pk__in=dead).delete()
    return [row for row in rows if row.session_key in live]


def end_session(row, *, request=None, ended_by: str = "user") -> None:
    """End one tracked session everywhere: its Django session and its row; audit it.

    Deleting the stored session (database and shared cache) and moving the
    user's session epoch makes the cookie anonymous on every instance at its
    next request, even when the cache could not be reached to forget its copy
    (``accounts.session_store``).
    The caller must already have checked that the row belongs to the actor.
    """
    _session_store(row.session_key).delete()
    row.delete()
    bump_epoch(row.user_id)  # after the delete: a cached copy left behind is distrusted
    record(
        Action.LOGOUT,
        actor=row.user if ended_by == "user" else None,  # None: the request's user
        target=row.user,
        request=request,
        details={
            "ended_by": ended_by,
            "which": "other",  # not "session": the trail redacts keys that look secret
            "device": describe_user_agent(row.user_agent),
        },
    )


def end_other_sessions(user, *, current_session_key: str | None, request=None) -> int:
    """End every live session of ``user`` except the current one; return how many ended."""
    ended = 0
    for row in list_sessions(user):
        if row.session_key != current_session_key:
            end_session(row, request=request)
            ended += 1
    return ended


def end_sessions(user, *, keep: str | None = None) -> int:
    """End every session of ``user`` except the one whose key is ``keep``; return how many.

    ``UserSession`` rows name the user's sessions; each is deleted through the
    session engine, then the user's session epoch moves, so a cached copy is
    never trusted again even if Redis missed the delete. Sessions
    without a row are ended anyway at their next request: Django checks the
    password hash stored in every session (session-auth-hash).
    """
    rows = UserSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        _session_store(key).delete()
    UserSession.objects.filter(user=user, session_key__in=keys).delete()
    bump_epoch(user.pk)  # after the deletes: a cached copy left behind is distrusted
    return len(keys)


# ---------------------------------------------------------------------------
# The signed-in user of a request, with the cached session checked first.
# ---------------------------------------------------------------------------


def get_user(request):
    """Return the request's user, as ``django.contrib.auth.get_user`` does, after one more check.

    A session the store took from the cache carries the session epoch it was
    cached at (``accounts.session_store``). Between loading the user (the
    query Django makes anyway, which brings the user's current epoch) and
    verifying the session's password hash, a copy of an older epoch is
    dropped and the session is read again from the database: a session ended
    while Redis missed its delete is then gone, and a kept session continues.
    The common path adds no query. The rest is Django's code, unchanged.
    """
    session = request.session
    try:
        user_id = _get_user_session_key(request)
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user = load_backend(backend_path).get_user(user_id)
    cached_epoch = getattr(session, "cached_epoch", None)
    if user is not None and cached_epoch is not None and cached_epoch != user.session_epoch:
        session.reload_from_database()
        return django_get_user(request)  # on the database's copy (one more user query, only here)
    if user is not None and hasattr(user, "get_session_auth_hash"):
        session_hash = session.get(HASH_SESSION_KEY)
        session_auth_hash = user.get_session_auth_hash()
        if not session_hash or not constant_time_compare(session_hash, session_auth_hash):
            if session_hash and any(
                constant_time_compare(session_hash, fallback_auth_hash)
                for fallback_auth_hash in user.get_session_auth_fallback_hash()
            ):
                session.cycle_key()
                session[HASH_SESSION_KEY] = session_auth_hash
            else:
                session.flush()
                user = None
    return user or AnonymousUser()


def request_user(request):
    """The lazy ``request.user`` of ``accounts.middleware.AuthenticationMiddleware``."""
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)
    return request._cached_user


async def arequest_user(request):
    """``request.auser()``: the same user, resolved in a thread (it may query)."""
    return await sync_to_async(request_user)(request)


def apply_remember_choice(session, remember: bool) -> None:
    """'Keep me signed in': a bounded persistent cookie, else one that ends with the browser.

    Either way the server forgets the session after the same bounded time
    (``AUTHSITE_REMEMBER_DEVICE_DAYS`` when remembered, ``SESSION_COOKIE_AGE`` otherwise).
    """
    session.set_expiry(authsite_settings.REMEMBER_DEVICE_DAYS * 86400 if remember else 0)


def prune_ended_sessions(*, now=None, batch_size: int = 1000) -> dict[str, int]:
    """Delete expired sessions and the ``UserSession`` rows of sessions that no longer exist.

    Django leaves expired sessions in the table until ``clearsessions`` runs;
    the account page prunes a user's dead rows only when that user looks.
    Both go here, in batches, on the daily retention job. Safe to run twice.
    """
    now = now or timezone.now()
    expired = _delete_in_batches(Session.objects.filter(expire_date__lte=now), batch_size)
    live = Session.objects.filter(expire_date__gt=now).values("session_key")
    orphaned = _delete_in_batches(UserSession.objects.exclude(session_key__in=live), batch_size)
    return {"expired_sessions": expired, "session_rows": orphaned}
