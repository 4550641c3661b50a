"""Brute-force defence for sign-in, shared by every instance (ASVS 6.1.1, 6.3.1, 6.3.4).

Failed sign-ins are counted over a sliding window per source address and
account (the "pair"), per account, and per address. When a pair reaches
``AUTHSITE_LOGIN_FAILURES_PER_ACCOUNT`` that account is locked *for that
address only*, so an attacker cannot lock a victim out everywhere; when an
address reaches ``AUTHSITE_LOGIN_FAILURES_PER_IP`` the address is locked for
every account. Each new lock of the same source lasts twice as long as the
previous one, up to ``AUTHSITE_LOGIN_LOCK_MAX_SECONDS``.

How it stays correct:

- An attempt is counted *before* the password is checked (one Lua script per
  attempt: ZREMRANGEBYSCORE + ZCARD + ZADD + PEXPIRE on sorted sets of
  timestamps), and refused once the count has reached the limit. Parallel
  guesses therefore never get more than the threshold of password checks; a
  successful attempt takes its count back.
- Locks are rows in PostgreSQL (``SignInLock``), the authority, mirrored in
  Redis. A lock found in Redis refuses without touching the database (the
  path attack traffic takes); otherwise the database is asked, so a lock
  survives a Redis flush or restart.
- Failures (not attempts) are also written to PostgreSQL (``FailedSignIn``)
  and the lock decision counts them over the same window, so a Redis flush
  or restart between failures forgives nothing: four failures, a flush, one
  more failure, and the account is locked.
- When Redis does not answer, counting moves to ``SignInFailure`` rows
  (fixed windows, incremented under ``SELECT ... FOR UPDATE``) and locks are
  read from the database: a lockout is never bypassed because Redis is down,
  sign-in keeps working, and one warning is logged per outage and process.

Accounts are keyed by the SHA-256 of the NFKC-casefolded e-mail of the
account the login resolves to, or of the typed login when no account
matches, so a lock looks the same whether or not the account exists. Neither
logins nor addresses are stored in Redis in clear.

Time comes from the callers' ``now`` (tests move it); instances must keep
their clocks in sync (NTP), as token expiry already requires.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django_redis.cache import RedisCache

from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import FailedSignIn, SignInFailure, SignInLock
from audit.events import Action, Outcome
from audit.services import record
from common.conf import authsite_settings
from common.logging import printable
from common.net import normalise_ip

logger = logging.getLogger(__name__)

CACHE_ALIAS = "default"
PREFIX = "authsite:lo:"
PRUNE_ONE_IN = 200  # database-counted attempts per clean-up of ended windows
MAX_LEVEL = 32  # 2**31 windows is past any sensible maximum; keeps the integers small

# Refusal reasons, as recorded in ``auth.login.failed`` details.
BAD_CREDENTIALS = "bad_credentials"
LOCKED = "locked"

# KEYS: 1 pair set, 2 address set, 3 account set, 4 pair lock, 5 address lock.
# ARGV: 1 now (ms), 2 window (ms), 3 member, 4 pair limit, 5 address limit, 6 "1" to count
# the address. Returns {state, pair count, address count, account count}; state 1 means
# counted, 0 means refused (locked, or the limit is already reached).
_ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local use_ip = ARGV[6] == '1'
local function locked(key)
    local value = redis.call('GET', key)
    return value and tonumber(value) > now
end
if locked(KEYS[4]) or (use_ip and locked(KEYS[5])) then
    return {0, -1, -1, -1}
end
local oldest = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', oldest)
local pair = redis.call('ZCARD', KEYS[1])
local address = 0
if use_ip then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
    address = redis.call('ZCARD', KEYS[2])
end
if pair >= tonumber(ARGV[4]) or (use_ip and address >= tonumber(ARGV[5])) then
    return {0, pair, address, redis.call('ZCARD', KEYS[3])}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('PEXPIRE', KEYS[3], window)
if use_ip then
    redis.call('ZADD', KEYS[2], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[2], window)
    address = address + 1
end
return {1, pair + 1, address, redis.call('ZCARD', KEYS[3])}
"""

_redis_failing = False  # this process logged the current outage already
_refusal: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "authsite_sign_in_refusal", default=None
)


@dataclass
class Attempt:
    """One sign-in attempt between :func:`start_attempt` and its outcome."""

    login: str
    login_key: str
    ip: str | None
    user: object | None
    now: datetime
    locked: bool = False
    store: str = "redis"  # "redis" | "database"
    member: str = ""
    window_start: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


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


def _pair_id(key: str, ip: str | None) -> str:
    # The account key's prefix leads, so an unlock can find every pair of an account.
    return f"{key[:31]}:{_ip_digest(ip)[:32]}"


def _redis_keys(key: str, ip: str | None) -> list[str]:
    ip_digest = _ip_digest(ip)
    return [
        f"{PREFIX}pair:{key}:{ip_digest}",
        f"{PREFIX}ip:{ip_digest}",
        f"{PREFIX}account:{key}",
        f"{PREFIX}lock:{key}:{ip_digest}",
        f"{PREFIX}lock::{ip_digest}",
    ]


def _lock_redis_key(lock: SignInLock) -> str:
    return f"{PREFIX}lock:{lock.login_key}:{_ip_digest(lock.source_ip)}"


# --- the attempt -------------------------------------------------------------------


def start_attempt(login: str, user=None, ip: str | None = None, *, now=None) -> Attempt:
    """Count an attempt before its password is checked; ``attempt.locked`` means refuse.

    ``user`` is the account ``login`` resolves to (``None`` when there is none).
    A refused attempt must still cost a password hash, so timing does not tell.
    """
    now = now or timezone.now()
    ip = normalise_ip(ip)
    attempt = Attempt(login=login, login_key=login_key(login, user), ip=ip, user=user, now=now)
    try:
        _redis_start(attempt)
    except Exception as exc:  # Redis down: the database counts instead
        _note_redis_failure(exc)
        attempt.store = "database"
    else:
        _note_redis_ok()
        if attempt.locked:
            return attempt
    lock = active_lock(attempt.login_key, ip, now=now)
    if lock is not None:
        attempt.locked = True
        if attempt.store == "redis":  # Redis lost the mirror (flush, restart): restore it
            try:
                _redis_release(attempt)
            except Exception as exc:
                _note_redis_failure(exc)
            _mirror(lock, now)
        return attempt
    if attempt.store == "database":
        _database_start(attempt)
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
        if attempt.store == "redis":
            _redis_release(attempt, reset_pair=True)
        else:
            _database_release(attempt, reset_pair=True)
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


def is_locked(login: str, user=None, ip: str | None = None, *, now=None) -> bool:
    """Whether sign-in as ``login`` from ``ip`` is refused now (counts nothing)."""
    now = now or timezone.now()
    key, ip = login_key(login, user), normalise_ip(ip)
    try:
        backend = _redis()
        client = backend.client.get_client(write=False)
        keys = _redis_keys(key, ip)
        values = client.mget([backend.make_key(keys[3]), backend.make_key(keys[4])])
        ms = now.timestamp() * 1000
        if any(value is not None and float(value) > ms for value in values[: 2 if ip else 1]):
            return True
    except Exception as exc:
        _note_redis_failure(exc)
    return active_lock(key, ip, now=now) is not None


# --- why a sign-in was refused, for the user_login_failed receiver -------------------


def note_refusal(reason: str | None) -> None:
    _refusal.set(reason)


def pop_refusal() -> str:
    """The reason the last authentication in this context failed, then forget it."""
    reason = _refusal.get()
    _refusal.set(None)
    return reason or BAD_CREDENTIALS


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
    for lock in locks:
        _forget(lock.login_key, lock.source_ip)
        lock.delete()
    _forget_account(key)
    SignInFailure.objects.filter(
        Q(scope="account", key=key) | Q(scope="pair", key__startswith=f"{key[:31]}:")
    ).delete()
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
    """Drop a lock's Redis mirror and the counter that led to it (best effort)."""
    keys = _redis_keys(key, ip)
    names = [keys[4], keys[1]] if not key else [keys[3], keys[0]]
    try:
        backend = _redis()
        backend.client.get_client(write=True).delete(*[backend.make_key(k) for k in names])
    except Exception as exc:
        _note_redis_failure(exc)
    db_key = _pair_id(key, ip) if key else _ip_digest(ip)
    SignInFailure.objects.filter(scope="pair" if key else "address", key=db_key).delete()
    if key:
        _pair_failures(key, ip).delete()
    else:
        FailedSignIn.objects.filter(source_ip=ip).delete()


def _forget_account(key: str) -> None:
    try:
        backend = _redis()
        client = backend.client.get_client(write=True)
        names = [backend.make_key(f"{PREFIX}account:{key}")]
        for kind in ("pair", "lock"):
            names += list(client.scan_iter(match=backend.make_key(f"{PREFIX}{kind}:{key}:*")))
        client.delete(*names)
    except Exception as exc:
        _note_redis_failure(exc)


# --- Redis -------------------------------------------------------------------------------


def _redis() -> RedisCache:
    backend = caches[CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        raise _NoRedis
    return backend


def _redis_start(attempt: Attempt) -> None:
    backend = _redis()  # the embedded mode (one process, no Redis): the database counts
    client = backend.client.get_client(write=True)
    script = client.register_script(_ATTEMPT_SCRIPT)
    attempt.member = f"{int(attempt.now.timestamp() * 1000)}-{secrets.token_hex(6)}"
    state, pair, address, account = script(
        keys=[backend.make_key(k) for k in _redis_keys(attempt.login_key, attempt.ip)],
        args=[
            int(attempt.now.timestamp() * 1000),
            authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
            attempt.member,
            authsite_settings.LOGIN_FAILURES_PER_ACCOUNT,
            authsite_settings.LOGIN_FAILURES_PER_IP,
            "1" if attempt.ip else "0",
        ],
    )
    attempt.locked = not int(state)
    attempt.counts = {"pair": int(pair), "address": int(address), "account": int(account)}


def _redis_release(attempt: Attempt, *, reset_pair: bool = False) -> None:
    backend = _redis()
    keys = [backend.make_key(k) for k in _redis_keys(attempt.login_key, attempt.ip)]
    pipe = backend.client.get_client(write=True).pipeline(transaction=True)
    if reset_pair:
        pipe.delete(keys[0])
    else:
        pipe.zrem(keys[0], attempt.member)
    pipe.zrem(keys[1], attempt.member)
    pipe.zrem(keys[2], attempt.member)
    pipe.execute()


def _mirror(lock: SignInLock, now: datetime) -> None:
    """Copy a lock into Redis so refusals under attack need no database query."""
    ms_left = int((lock.locked_until - now).total_seconds() * 1000)
    if ms_left <= 0:
        return
    try:
        backend = _redis()
        backend.client.get_client(write=True).set(
            backend.make_key(_lock_redis_key(lock)),
            int(lock.locked_until.timestamp() * 1000),
            px=ms_left,
        )
    except Exception as exc:
        _note_redis_failure(exc)


class _NoRedis(Exception):
    """The cache is not Redis (the embedded mode): not an outage, nothing to log."""


def _note_redis_failure(exc: Exception) -> None:
    global _redis_failing
    if isinstance(exc, _NoRedis):
        return
    if not _redis_failing:
        _redis_failing = True
        logger.warning(
            "sign-in lockout counts in the database: Redis is unavailable (%s)",
            type(exc).__name__,
        )


def _note_redis_ok() -> None:
    global _redis_failing
    if _redis_failing:
        _redis_failing = False
        logger.info("sign-in lockout counts in Redis again")


# --- failures counted durably --------------------------------------------------------------


def _pair_failures(key: str, ip: str | None):
    rows = FailedSignIn.objects.filter(login_key=key)
    return rows.filter(source_ip=ip) if ip else rows.filter(source_ip__isnull=True)


def _count_durably(attempt: Attempt) -> None:
    """Write the failure to PostgreSQL and count the window there too (failures only).

    Redis counts attempts before the password is checked, so parallel guesses
    are held at the limit; but a flush or a restart empties it. The lock
    decision therefore takes, per scope, the larger of the Redis count and the
    count of ``FailedSignIn`` rows over the same sliding window: failures
    written before Redis lost its data still count, and the fifth failure
    locks whatever happened to Redis in between. A good sign-in never comes
    here; it only deletes its pair's rows (one DELETE that usually matches
    nothing). After a flush the gate in Redis starts from zero, so up to the
    limit of guesses may be checked in parallel once more; the next failure
    among them locks.
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


# --- the database fallback ---------------------------------------------------------------


def _database_rows(attempt: Attempt) -> list[tuple[str, str]]:
    rows = [("pair", _pair_id(attempt.login_key, attempt.ip)), ("account", attempt.login_key)]
    if attempt.ip:
        rows.append(("address", _ip_digest(attempt.ip)))
    return rows


def _database_start(attempt: Attempt) -> None:
    """Count the attempt in fixed windows under row locks, refusing at the limits."""
    window = authsite_settings.LOGIN_FAILURE_WINDOW_SECONDS
    start = int(attempt.now.timestamp()) // window * window
    attempt.window_start = datetime.fromtimestamp(start, tz=UTC)
    wanted = _database_rows(attempt)
    with transaction.atomic():
        SignInFailure.objects.bulk_create(
            [SignInFailure(scope=s, key=k, window_start=attempt.window_start) for s, k in wanted],
            ignore_conflicts=True,
        )
        match = Q()
        for scope, key in wanted:
            match |= Q(scope=scope, key=key)
        rows = {
            row.scope: row
            for row in SignInFailure.objects.select_for_update()
            .filter(match, window_start=attempt.window_start)
            .order_by("scope", "key")
        }
        counts = {scope: row.count for scope, row in rows.items()}
        over_ip = attempt.ip and counts.get("address", 0) >= authsite_settings.LOGIN_FAILURES_PER_IP
        if counts.get("pair", 0) >= authsite_settings.LOGIN_FAILURES_PER_ACCOUNT or over_ip:
            attempt.locked = True
            attempt.counts = counts
            return
        SignInFailure.objects.filter(pk__in=[row.pk for row in rows.values()]).update(
            count=F("count") + 1
        )
        attempt.counts = {scope: count + 1 for scope, count in counts.items()}
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        # Windows long past count for nothing; an occasional attempt clears them away.
        SignInFailure.objects.filter(
            window_start__lt=attempt.window_start - timedelta(seconds=window)
        ).delete()


def _database_release(attempt: Attempt, *, reset_pair: bool = False) -> None:
    if attempt.window_start is None:
        return
    for scope, key in _database_rows(attempt):
        rows = SignInFailure.objects.filter(
            scope=scope, key=key, window_start=attempt.window_start, count__gt=0
        )
        if scope == "pair" and reset_pair:
            rows.update(count=0)
        else:
            rows.update(count=F("count") - 1)


# --- retention ---------------------------------------------------------------------------

PRUNE_BATCH_SIZE = 1000


def prune_records(*, now=None, batch_size: int = PRUNE_BATCH_SIZE) -> dict[str, int]:
    """Delete sign-in locks and failure records whose use has ended; return counts per kind.

    - A lock is kept while it holds and, after it ends, for
      ``LOGIN_LOCK_MAX_SECONDS``: the next lock of the same source doubles
      only if the last one ended within that time (``_start_lock``).
    - A failure (``FailedSignIn``, and the fallback ``SignInFailure``
      windows) counts for one ``LOGIN_FAILURE_WINDOW_SECONDS`` window.

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
            SignInFailure.objects.filter(window_start__lt=now - window - keep), batch_size
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
