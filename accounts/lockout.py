"""Brute-force defence for sign-in, shared by every instance (ASVS 6.1.1, 6.3.1, 6.3.4).

Failed sign-ins are counted over a sliding window per source address and
account (the "pair"), per account, and per address. When a pair reaches
``AUTHSITE_LOGIN_FAILURES_PER_ACCOUNT`` that account is locked *for that
address only*, so an attacker cannot lock a victim out everywhere; when an
address reaches ``AUTHSITE_LOGIN_FAILURES_PER_IP`` the address is locked for
every account. Each new lock of the same source lasts twice as long as the
previous one, up to ``AUTHSITE_LOGIN_LOCK_MAX_SECONDS``.

This module is the lockout *policy*; the counting is common/ratelimit.py's,
as for every other limit, with ``durable=True``. How it stays correct:

- An attempt is counted *before* the password is checked, under the pair,
  account and address keys at once (``ratelimit.hit_all``: one Lua script per
  attempt on sorted sets of timestamps), and refused once the pair or the
  address has reached its limit. Parallel guesses therefore never get more
  than the threshold of password checks; a successful attempt takes its
  count back (``ratelimit.undo``).
- Locks are rows in PostgreSQL (``SignInLock``), the authority, mirrored in
  Redis as blocks of the attempt (``ratelimit.block``). A lock found in Redis
  refuses without touching the database (the path attack traffic takes);
  otherwise the database is asked, so a lock survives a Redis flush or restart.
- Failures (not attempts) are also written to PostgreSQL (``FailedSignIn``)
  and the lock decision counts them over the same window, so a Redis flush
  or restart between failures forgives nothing: four failures, a flush, one
  more failure, and the account is locked.
- When Redis does not answer, the limiter counts in PostgreSQL
  (``common.models.RateLimitWindow`` rows, fixed windows, incremented under
  ``SELECT ... FOR UPDATE``) and locks are read from the database: a lockout
  is never bypassed because Redis is down, sign-in keeps working, and the
  outage is logged (once per ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``).
  Without Redis at all (the embedded mode) the database always counts.

Accounts are keyed by the SHA-256 of the NFKC-casefolded e-mail of the
account the login resolves to, or of the typed login when no account
matches, so a lock looks the same whether or not the account exists. Neither
logins nor addresses are stored in Redis in clear.

Time comes from the callers' ``now`` (tests move it); instances must keep
their clocks in sync (NTP), as token expiry already requires.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import FailedSignIn, SignInLock
from audit.events import Action, Outcome
from audit.services import record
from common import ratelimit
from common.conf import authsite_settings
from common.logging import printable
from common.net import normalise_ip

logger = logging.getLogger(__name__)

MAX_LEVEL = 32  # 2**31 windows is past any sensible maximum; keeps the integers small

# The limiter's key scopes (the part before the first ":"); stored keys start with PREFIX.
PAIR, ACCOUNT, ADDRESS, LOCK = "signin-pair", "signin-account", "signin-ip", "signin-lock"
SCOPES = (PAIR, ACCOUNT, ADDRESS)
PREFIX = f"{ratelimit.KEY_PREFIX}signin-"

# Refusal reasons, as recorded in ``auth.login.failed`` details.
BAD_CREDENTIALS = "bad_credentials"
LOCKED = "locked"


@dataclass
class Attempt:
    """One sign-in attempt between :func:`start_attempt` and its outcome."""

    login: str
    login_key: str
    ip: str | None
    user: object | None
    now: datetime
    locked: bool = False
    store: str = "redis"  # where the limiter counted it: "redis" | "database"
    counts: dict[str, int] = field(default_factory=dict)
    hits: ratelimit.Hits | None = None


# --- keys ------------------------------------------------------------------------


def normalise_login(value: str) -> str:
    """NFKC + casefold, so look-alike spellings of one login share a counter."""
    return unicodedata.normalize("NFKC", value or "").strip().casefold()


def login_key(login: str, user=None) -> str:
    """The account key: the account's e-mail when the login resolves, else the typed login."""
    identity = normalise_login(user.email if user is not None else login)
    return hashlib.sha256(f"authsite-login:{identity}".encode("utf-8", "surrogatepass")).hexdigest()


def login_key_for_user(user) -> str:
    return login_key(user.email, user)


def _ip_digest(ip: str | None) -> str:
    return hashlib.sha256(f"authsite-ip:{ip or '-'}".encode()).hexdigest()


def _pair_key(key: str, ip: str | None) -> str:
    return f"{PAIR}:{key}:{_ip_digest(ip)}"


def _address_key(ip: str | None) -> str:
    return f"{ADDRESS}:{_ip_digest(ip)}"


def _account_key(key: str) -> str:
    return f"{ACCOUNT}:{key}"


def _lock_key(key: str, ip: str | None) -> str:
    """The block mirroring a lock: ``key`` is the account key, or "" for an address lock."""
    return f"{LOCK}:{key}:{_ip_digest(ip)}"


# --- the attempt -------------------------------------------------------------------


def start_attempt(login: str, user=None, ip: str | None = None, *, now=None) -> Attempt:
    """Count an attempt before its password is checked; ``attempt.locked`` means refuse.

    ``user`` is the account ``login`` resolves to (``None`` when there is none).
    A refused attempt must still cost a password hash, so timing does not tell.
    """
    now = now or timezone.now()
    ip = normalise_ip(ip)
    key = login_key(login, user)
    attempt = Attempt(login=login, login_key=key, ip=ip, user=user, now=now)
    limits = [
        (_pair_key(key, ip), authsite_settings.LOGIN_FAILURES_PER_ACCOUNT),
        (_account_key(key), None),  # counted for the audit trail, never refuses by itself
    ]
    blocks = [_lock_key(key, ip)]
    if ip:
        limits.append((_address_key(ip), authsite_settings.LOGIN_FAILURES_PER_IP))
        blocks.append(_lock_key("", ip))
    hits = ratelimit.hit_all(
        limits,
        window_seconds=authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS,
        durable=True,
        blocked_by=blocks,
        now=now,
    )
    attempt.hits, attempt.store = hits, hits.store
    counts = dict(zip(("pair", "account", "address"), hits.counts, strict=False))
    attempt.counts = {"address": 0, **counts}
    if not hits.allowed:  # a mirrored lock, or the pair or address at its limit
        attempt.locked = True
        return attempt
    lock = active_lock(key, ip, now=now)
    if lock is not None:
        attempt.locked = True
        ratelimit.undo(hits)
        if hits.store == "redis":  # Redis lost the mirror (flush, restart): restore it
            _mirror(lock, now)
    return attempt


def record_failure(attempt: Attempt, *, request=None) -> SignInLock | None:
    """The attempt's password was wrong: lock the source if it reached a limit.

    Returns the lock started here (recorded as ``auth.login.locked``), else ``None``.
    """
    if attempt.locked:
        return None
    _count_durably(attempt)
    started = None
    if attempt.counts.get("pair", 0) >= authsite_settings.LOGIN_FAILURES_PER_ACCOUNT:
        started = _start_lock(attempt, attempt.login_key, request=request) or started
    if attempt.ip and attempt.counts.get("address", 0) >= authsite_settings.LOGIN_FAILURES_PER_IP:
        started = _start_lock(attempt, "", request=request) or started
    return started


def record_success(attempt: Attempt) -> None:
    """The attempt signed in: it was no failure, and its pair starts afresh."""
    if attempt.locked:
        return
    try:
        if attempt.hits is not None:
            ratelimit.undo(attempt.hits, forget=[_pair_key(attempt.login_key, attempt.ip)])
        _pair_failures(attempt.login_key, attempt.ip).delete()  # usually matches nothing
    except Exception as exc:  # never fail a good sign-in over bookkeeping
        logger.warning("sign-in counter not released (%s)", type(exc).__name__)


def active_lock(key: str, ip: str | None, *, now=None) -> SignInLock | None:
    """The database's unexpired lock on this account from ``ip``, or on ``ip`` itself."""
    now = now or timezone.now()
    ip = normalise_ip(ip)
    pair = Q(login_key=key) & (Q(source_ip=ip) if ip else Q(source_ip__isnull=True))
    scope = pair | Q(login_key="", source_ip=ip) if ip else pair
    return SignInLock.objects.filter(scope, locked_until__gt=now).order_by("-locked_until").first()


# --- locks -------------------------------------------------------------------------------


def lock_seconds(level: int) -> int:
    """A first lock lasts one window; each further one twice the previous, up to the cap."""
    base = authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS
    level = max(1, min(level, MAX_LEVEL))
    return min(base * 2 ** (level - 1), authsite_settings.LOGIN_LOCK_MAX_SECONDS)


def _start_lock(attempt: Attempt, key: str, *, request=None) -> SignInLock | None:
    """Write the lock (one row per source, kept after it ends to remember the level)."""
    now = attempt.now
    ip = attempt.ip
    per_account = bool(key)
    failures = attempt.counts.get("pair" if per_account else "address", 0)
    try:
        with transaction.atomic():
            lock = (
                SignInLock.objects.select_for_update()
                .filter(login_key=key)
                .filter(Q(source_ip=ip) if ip else Q(source_ip__isnull=True))
                .first()
            )
            if lock is not None and lock.locked_until > now:
                return None  # another attempt started it
            recent = lock is not None and lock.locked_until > now - timedelta(
                seconds=authsite_settings.LOGIN_LOCK_MAX_SECONDS
            )
            level = min(lock.level + 1, MAX_LEVEL) if recent else 1
            seconds = lock_seconds(level)
            if lock is None:
                lock = SignInLock(login_key=key, source_ip=ip)
            lock.user = attempt.user if per_account else None
            lock.failures = failures
            lock.level = level
            lock.locked_until = now + timedelta(seconds=seconds)
            lock.save()
    except IntegrityError:  # a parallel attempt created the row first
        return None
    _mirror(lock, now)
    if per_account:
        target = attempt.user or ("login", _label(attempt.login), _label(attempt.login))
    else:
        target = ("address", ip, ip)
    record(
        Action.LOGIN_LOCKED,
        outcome=Outcome.FAILURE,
        target=target,
        request=request,
        details={
            "scope": "account" if per_account else "address",
            "failures": failures,
            "account_failures": attempt.counts.get("account", 0),
            "level": level,
            "seconds": seconds,
            "locked_until": lock.locked_until.isoformat(),
            "store": attempt.store,
        },
    )
    return lock


def _label(login: str) -> str:
    return printable(str(login or ""))[:150]


def clear_locks(locks, *, actor=None, source: str, request=None) -> int:
    """End the given locks (a queryset or list) and reset their counters; audited one by one.

    The caller checks the actor may do this (admin permission, shell access).
    """
    cleared = 0
    for lock in list(locks):
        _forget(lock.login_key, lock.source_ip)
        lock.delete()
        cleared += 1
        record(
            Action.USER_UNLOCKED,
            actor=actor,
            target=lock.user if lock.user_id else ("address", lock.source_ip, lock.source_ip),
            request=request,
            details={
                "source": source,
                "scope": "account" if lock.login_key else "address",
                "source_ip": lock.source_ip,
                "level": lock.level,
            },
        )
    return cleared


@transaction.atomic
def unlock_user(user, *, actor=None, source: str, request=None) -> int:
    """End every lock of ``user`` from every address and reset the account's counters.

    Returns how many locks ended; records one ``user.unlocked`` event either way.
    """
    key = login_key_for_user(user)
    locks = list(SignInLock.objects.filter(Q(user=user) | Q(login_key=key)))
    # Every address that counted against the account left a failure row (an attempt
    # that was no failure took its count back), so these are all the pairs to reset.
    addresses = set(FailedSignIn.objects.filter(login_key=key).values_list("source_ip", flat=True))
    addresses.update(lock.source_ip for lock in locks if lock.login_key == key)
    for lock in locks:
        _forget(lock.login_key, lock.source_ip)
        lock.delete()
    for ip in addresses:
        _forget(key, ip)
    ratelimit.reset(_account_key(key), durable=True)
    FailedSignIn.objects.filter(login_key=key).delete()
    record(
        Action.USER_UNLOCKED,
        actor=actor,
        target=user,
        request=request,
        details={"source": source, "locks": len(locks)},
    )
    return len(locks)


def _forget(key: str, ip: str | None) -> None:
    """Drop a lock's mirror and the counter that led to it."""
    ratelimit.unblock(_lock_key(key, ip))
    if key:
        ratelimit.reset(_pair_key(key, ip), durable=True)
        _pair_failures(key, ip).delete()
    else:
        ratelimit.reset(_address_key(ip), durable=True)
        FailedSignIn.objects.filter(source_ip=ip).delete()


def _mirror(lock: SignInLock, now: datetime) -> None:
    """Copy a lock into Redis so refusals under attack need no database query."""
    ratelimit.block(_lock_key(lock.login_key, lock.source_ip), until=lock.locked_until, now=now)


# --- failures counted durably --------------------------------------------------------------


def _pair_failures(key: str, ip: str | None):
    rows = FailedSignIn.objects.filter(login_key=key)
    return rows.filter(source_ip=ip) if ip else rows.filter(source_ip__isnull=True)


def _count_durably(attempt: Attempt) -> None:
    """Write the failure to PostgreSQL and count the window there too (failures only).

    The limiter counts attempts before the password is checked, so parallel
    guesses are held at the limit; but a Redis flush or a restart empties it.
    The lock decision therefore takes, per scope, the larger of the limiter's
    count and the count of ``FailedSignIn`` rows over the same sliding window:
    failures written before Redis lost its data still count, and the fifth
    failure locks whatever happened to Redis in between. A good sign-in never
    comes here; it only deletes its pair's rows (one DELETE that usually
    matches nothing). After a flush the gate in Redis starts from zero, so up
    to the limit of guesses may be checked in parallel once more; the next
    failure among them locks.
    """
    FailedSignIn.objects.create(login_key=attempt.login_key, source_ip=attempt.ip, at=attempt.now)
    since = attempt.now - timedelta(seconds=authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS)
    recent = FailedSignIn.objects.filter(at__gt=since, at__lte=attempt.now)
    pair = Q(login_key=attempt.login_key) & (
        Q(source_ip=attempt.ip) if attempt.ip else Q(source_ip__isnull=True)
    )
    if attempt.ip:
        counts = recent.filter(pair | Q(source_ip=attempt.ip)).aggregate(
            pair=Count("pk", filter=pair), address=Count("pk")
        )
    else:
        counts = {"pair": recent.filter(pair).count(), "address": 0}
    for scope in ("pair", "address"):
        attempt.counts[scope] = max(attempt.counts.get(scope, 0), counts[scope])


# --- retention ---------------------------------------------------------------------------

PRUNE_BATCH_SIZE = 1000


def prune_records(*, now=None, batch_size: int = PRUNE_BATCH_SIZE) -> dict[str, int]:
    """Delete sign-in locks and failure records whose use has ended; return counts per kind.

    - A lock is kept while it holds and, after it ends, for
      ``LOGIN_LOCK_MAX_SECONDS``: the next lock of the same source doubles
      only if the last one ended within that time (``_start_lock``).
    - A failure (``FailedSignIn``, and the limiter's fallback windows of the
      sign-in scopes, ``RateLimitWindow``) counts for one
      ``LOGIN_FAILURE_WINDOW_SECONDS`` window.

    Each kind is kept ``AUTHSITE_SIGNIN_RECORD_RETENTION_DAYS`` past that
    point, then deleted in batches of ``batch_size`` rows (short
    transactions, no long lock on a table sign-in writes to). Safe to run
    concurrently or twice. Unlocks are audited; expired locks are not.
    """
    now = now or timezone.now()
    keep = timedelta(days=authsite_settings.SIGNIN_RECORD_RETENTION_DAYS)
    window = timedelta(seconds=authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS)
    memory = timedelta(seconds=authsite_settings.LOGIN_LOCK_MAX_SECONDS)
    return {
        "locks": _delete_in_batches(
            SignInLock.objects.filter(locked_until__lt=now - memory - keep), batch_size
        ),
        "failures": _delete_in_batches(
            FailedSignIn.objects.filter(at__lt=now - window - keep), batch_size
        ),
        "fallback_counters": _delete_in_batches(
            ratelimit.stale_windows(now - window - keep, scopes=SCOPES), batch_size
        ),
    }


def _delete_in_batches(queryset, batch_size: int) -> int:
    """Delete what ``queryset`` matches, ``batch_size`` rows per statement; return how many."""
    deleted = 0
    while True:
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            return deleted
        deleted += queryset.model.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < batch_size:
            return deleted
