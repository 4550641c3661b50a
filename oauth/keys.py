"""Signing keys: generation, rotation, the published JWKS, and verifying our own JWTs.

A key is published as ``next`` for a whole rotation period before it signs,
and stays published as ``previous`` until every token it signed has expired,
so a relying party with a cached JWKS always finds the ``kid`` it is shown.
Private keys are stored encrypted (Fernet) under a key derived from
``AUTHSITE_KEY_ENCRYPTION_SECRET``; a database dump alone does not leak them.

Every instance of a cluster must use the same secret. An instance that cannot
decrypt the stored keys refuses to sign (``SigningKeyUnavailableError``), is
not ready (authsite/health.py) and never creates or rotates keys: new keys
encrypted under its secret would be unreadable by every other instance.
Only ``manage.py rotatekeys --discard-unreadable`` replaces unreadable keys.

Each process memoises the active keys, parsed and ready to sign, and the
published public keys, parsed and ready to verify: a request neither reads
the database nor parses a key. A rotation replaces a version in the shared
cache, which every process compares at most once per ``VERSION_CHECK_SECONDS``,
so a forced rotation reaches every worker within about a second
(``MEMO_SECONDS`` bounds it when the cache is down).

Verification uses joserfc's RS256/ES256 algorithms over our own parsing
(duplicate members, forbidden headers, kid and typ checks): the design note
measured it at 31 µs (RS256) and 68 µs (ES256) per token, close to calling
``cryptography`` directly and about half of jwcrypto's cost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry
from jwcrypto.common import JWException
from jwcrypto.jwk import JWK
from oauth2_provider.models import get_application_model

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.events import Action
from audit.services import record
from common.conf import authsite_settings
from common.logging import log_dependency_failure
from oauth.exceptions import InvalidJWT, SigningKeyUnavailableError
from oauth.models import SigningKey

logger = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = ("RS256", "ES256")

JWKS_CACHE_KEY = "oauth:jwks"
# Replaced after every change to the keys; processes drop their memo when it changes.
KEYS_VERSION_CACHE_KEY = "oauth:signing-keys:version"
# How often a process compares its memo with the shared version (one cache GET).
VERSION_CHECK_SECONDS = 1.0
# Bounds staleness if an invalidation is lost (cache down during a rotation).
JWKS_CACHE_SECONDS = 300
# Another process may sign with a key for this long after it stopped being active.
MEMO_SECONDS = 60
# Retirement waits this much beyond the longest token lifetime: covers MEMO_SECONDS and clock skew.
RETIREMENT_MARGIN = timedelta(minutes=5)

_State = SigningKey.State
_GENERATE = {
    "RS256": {"kty": "RSA", "size": 2048, "public_exponent": 65537},
    "ES256": {"kty": "EC", "crv": "P-256"},
}
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}
# Headers that point at keys or semantics outside our JWKS (RFC 8725 §3.10, RFC 7515 §4.1.11).
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
_STATE_ORDER = {_State.ACTIVE: 0, _State.NEXT: 1, _State.PREVIOUS: 2}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

# Per algorithm: the active key's material; under _VERIFIERS: every published key,
# by kid. One dict, so one clear() forgets both (rotation, version change, tests).
_memo: dict[str, tuple[float, Any]] = {}
_VERIFIERS = "verifiers"
# The last reload of the verifiers: an unknown kid reloads them at most this often.
_verifiers_loaded: dict[str, float] = {"at": float("-inf")}
_JWS_ALGORITHMS = JWSRegistry(algorithms=SUPPORTED_ALGORITHMS)
_PUBLIC_KEY_TYPES = {"RSA": RSAKey, "EC": ECKey}
# The shared version the memo was built under, and when it was last compared.
_memo_version: dict[str, Any] = {"version": None, "checked": float("-inf")}


@dataclass(frozen=True)
class SigningKeyMaterial:
    kid: str
    algorithm: str
    jwk: JWK  # the private key as stored (jwcrypto), for export and tests
    private_key: Any  # the same key as a ``cryptography`` object: what oauth.tokens signs with


@dataclass(frozen=True)
class _Verifier:
    """A published public key, parsed once, with the joserfc algorithm it must be used with."""

    algorithm: str
    verify: Any  # joserfc JWSAlgModel.verify(signing_input, signature, key) -> bool
    key: Any


def get_signing_key(algorithm: str = "RS256") -> SigningKeyMaterial:
    """The active key for ``algorithm``, memoised per process.

    Creates the keys on an empty database. Raises SigningKeyUnavailableError
    when the active key does not decrypt with this instance's secret (another
    instance wrote it with a different ``AUTHSITE_KEY_ENCRYPTION_SECRET``):
    better no token than a token signed with a key nobody else has, or keys
    replaced under the instances that can read them.
    """
    _check_algorithm(algorithm)
    _check_version()
    memo = _memo.get(algorithm)
    if memo is not None and memo[0] > time.monotonic():
        return memo[1]
    key = _active_key(algorithm)
    created = key is None
    if created:
        ensure_signing_keys()
        key = _active_key(algorithm)
    material = _material(key) if key is not None else None
    if material is None:
        if key is not None:
            report_unreadable_keys()
            raise SigningKeyUnavailableError()
        raise RuntimeError(f"no usable {algorithm} signing key")
    # A key created inside the caller's transaction is gone if it rolls back: not memoised.
    if not (created and transaction.get_connection().in_atomic_block):
        _memo[algorithm] = (time.monotonic() + MEMO_SECONDS, material)
    return material


def unreadable_keys() -> list[SigningKey]:
    """Active and next keys this instance's secret cannot decrypt (empty when all is well).

    The readiness probe asks this every few seconds on every instance: whether a
    stored key decrypts is remembered per (key, ciphertext, secret), since none of
    them can change without changing that triple, and loading an RSA private key
    costs tens of milliseconds of CPU.
    """
    secret = hashlib.sha256(authsite_settings.KEY_ENCRYPTION_SECRET.encode()).digest()
    return [
        key
        for key in SigningKey.objects.filter(
            state__in=[_State.ACTIVE, _State.NEXT], algorithm__in=SUPPORTED_ALGORITHMS
        )
        if not _decrypts(key, secret)
    ]


# (kid, sha256 of the ciphertext, sha256 of the secret) -> does it decrypt; a handful of
# keys per rotation, so the memo stays tiny.
_readable: dict[tuple[str, bytes, bytes], bool] = {}


def _decrypts(key: SigningKey, secret: bytes) -> bool:
    ciphertext = hashlib.sha256((key.private_key_encrypted or "").encode()).digest()
    memo_key = (key.kid, ciphertext, secret)
    if memo_key not in _readable:
        if len(_readable) > 64:
            _readable.clear()
        _readable[memo_key] = _material(key) is not None
    return _readable[memo_key]


def check_signing_keys() -> None:
    """Raise SigningKeyUnavailableError if a stored active or next key does not decrypt.

    The readiness check: such an instance must not take traffic.
    """
    if unreadable_keys():
        report_unreadable_keys()
        raise SigningKeyUnavailableError()


def report_unreadable_keys() -> None:
    """One ERROR naming the setting, per ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``."""
    log_dependency_failure(
        logger,
        "signing keys unreadable",
        SigningKeyUnavailableError.message,
        level=logging.ERROR,
    )


def public_jwks() -> dict:
    """The JWK Set of every published key (next, active, previous), public members only.

    Served from the cache; a cache failure falls back to the database, since
    the JWKS endpoint and token verification must keep working without Redis.
    """
    try:
        cached = cache.get(JWKS_CACHE_KEY)
    except Exception as exc:  # any cache backend error: the database is the source of truth
        log_dependency_failure(
            logger,
            "jwks cache read",
            "JWKS cache read failed (%s); using the database",
            type(exc).__name__,
        )
        cached = None
    if isinstance(cached, dict):
        return cached
    published = SigningKey.objects.filter(
        state__in=list(_STATE_ORDER), algorithm__in=SUPPORTED_ALGORITHMS
    )
    ordered = sorted(published, key=lambda k: _STATE_ORDER[k.state])
    jwks = {"keys": [_public_jwk(key) for key in ordered]}
    try:
        cache.set(JWKS_CACHE_KEY, jwks, JWKS_CACHE_SECONDS)
    except Exception as exc:
        log_dependency_failure(
            logger, "jwks cache write", "JWKS cache write failed (%s)", type(exc).__name__
        )
    return jwks


def verify_jwt(token: str, *, expected_typ: str | None = None, verify_exp: bool = True) -> dict:
    """Verify a compact JWS signed by one of our published keys and return its claims.

    Only the ``kid`` header selects the key, and only from our own JWKS; the
    algorithm must be the key's own (RFC 8725 §3.1). With ``verify_exp`` a
    token without a numeric ``exp`` is rejected too. Raises ``InvalidJWT``.
    The keys come from the per-process memo: no database read, no key parsing.
    """
    parts = _split(token)
    header = _decode_segment(parts[0], "header")
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidJWT("unsupported alg")
    forbidden = [name for name in _FORBIDDEN_HEADERS if name in header]
    if forbidden:
        raise InvalidJWT(f"header not accepted: {', '.join(forbidden)}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidJWT("missing kid")
    verifier = _verifier(kid)
    if verifier is None:
        raise InvalidJWT("unknown kid")
    if verifier.algorithm != alg:
        raise InvalidJWT("alg does not match the key")
    if expected_typ is not None and _typ(header.get("typ")) != _typ(expected_typ):
        raise InvalidJWT("wrong typ")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        signature = _b64decode(parts[2])
        valid = verifier.verify(signing_input, signature, verifier.key)
    except (JoseError, binascii.Error, ValueError, TypeError) as exc:
        raise InvalidJWT("bad signature") from exc
    if not valid:
        raise InvalidJWT("bad signature")
    claims = _decode_segment(parts[1], "claims")
    if verify_exp:
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise InvalidJWT("missing exp")
        if exp <= time.time():
            raise InvalidJWT("expired")
    return claims


def _verifier(kid: str) -> _Verifier | None:
    """The published key ``kid``, from the per-process memo.

    The memo is rebuilt from the JWKS when the shared key version changes, after
    ``MEMO_SECONDS``, and when a kid is unknown (a key published by another
    process less than a second ago), the last at most once per
    ``VERSION_CHECK_SECONDS`` so that made-up kids cannot make every request
    reload the keys.
    """
    _check_version()
    now = time.monotonic()
    memo = _memo.get(_VERIFIERS)
    if memo is None or memo[0] <= now:
        memo = _load_verifiers(now)
    verifier = memo[1].get(kid)
    if verifier is None and now - _verifiers_loaded["at"] >= VERSION_CHECK_SECONDS:
        verifier = _load_verifiers(now)[1].get(kid)
    return verifier


def _load_verifiers(now: float) -> tuple[float, dict[str, _Verifier]]:
    verifiers = {}
    for public in public_jwks()["keys"]:
        key_type = _PUBLIC_KEY_TYPES.get(public.get("kty"))
        if key_type is None or public.get("alg") not in SUPPORTED_ALGORITHMS:
            continue
        algorithm = _JWS_ALGORITHMS.get_alg(public["alg"])
        key = key_type.import_key(public)
        algorithm.check_key(key)  # an EC key on another curve is not an ES256 key
        key.get_op_key("verify")  # parsed now, not on the first request
        verifiers[public["kid"]] = _Verifier(public["alg"], algorithm.verify, key)
    memo = (now + MEMO_SECONDS, verifiers)
    _memo[_VERIFIERS] = memo
    _verifiers_loaded["at"] = now
    return memo


def ensure_signing_keys() -> None:
    """Make sure every supported algorithm has an active and a next key.

    Idempotent and safe to run concurrently: the one-active / one-next unique
    constraints decide races, and the loser's key is discarded.
    """
    _refuse_if_unreadable()
    lines = _ensure(timezone.now())
    if lines:
        _invalidate()
        for line in lines:
            logger.info("signing keys: %s", line)


def rotate_signing_keys(
    *, force: bool = False, now: datetime | None = None, algorithm: str | None = None
) -> list[str]:
    """Rotate keys that are due (or all, with ``force``) and retire expired previous keys.

    Rotation promotes the already-published next key, so relying parties know
    it before it signs. ``algorithm`` limits rotation and retirement to one
    algorithm. Returns what changed, one line each, without key material.
    """
    now = now or timezone.now()
    algorithms = SUPPORTED_ALGORITHMS if algorithm is None else (algorithm,)
    for name in algorithms:
        _check_algorithm(name)
    _refuse_if_unreadable()
    lines = _ensure(now)
    for name in algorithms:
        lines += _rotate(name, now, force=force)
    lines += _retire(algorithms, now)
    if lines:
        _invalidate()
        for line in lines:
            logger.info("signing keys: %s", line)
        record(Action.SIGNING_KEY_ROTATED, details={"changes": lines, "forced": force})
    return lines


def max_token_lifetime() -> timedelta:
    """The longest any token we sign can live, hence how long a key stays published."""
    longest_client = get_application_model().objects.aggregate(
        longest=Max("access_token_lifetime_seconds")
    )["longest"]
    return timedelta(
        seconds=max(
            authsite_settings.ACCESS_TOKEN_LIFETIME_SECONDS,
            authsite_settings.ID_TOKEN_LIFETIME_SECONDS,
            longest_client or 0,
        )
    )


# --- Life cycle ----------------------------------------------------------------


def _ensure(now: datetime) -> list[str]:
    lines = []
    for algorithm in SUPPORTED_ALGORITHMS:
        if not SigningKey.objects.filter(algorithm=algorithm, state=_State.ACTIVE).exists():
            line = _promote_next(algorithm, now) or _create(algorithm, _State.ACTIVE, now)
            if line:
                lines.append(line)
        if not SigningKey.objects.filter(algorithm=algorithm, state=_State.NEXT).exists():
            line = _create(algorithm, _State.NEXT, now)
            if line:
                lines.append(line)
    return lines


def _promote_next(algorithm: str, now: datetime) -> str | None:
    """Make a published next key active when there is no active key at all."""
    try:
        with transaction.atomic():
            key = (
                SigningKey.objects.select_for_update()
                .filter(algorithm=algorithm, state=_State.NEXT)
                .first()
            )
            if key is None:
                return None
            key.state, key.activated = _State.ACTIVE, now
            key.save(update_fields=["state", "activated"])
    except IntegrityError:  # a concurrent caller made an active key first
        return None
    return f"{algorithm}: activated {key.kid} (was next)"


def _create(algorithm: str, state: str, now: datetime) -> str | None:
    key = _new_key(algorithm, state, now)
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:  # a concurrent caller created it first
        return None
    return f"{algorithm}: new {state} key {key.kid}"


def _rotate(algorithm: str, now: datetime, *, force: bool) -> list[str]:
    period = timedelta(days=authsite_settings.SIGNING_KEY_ROTATION_DAYS)
    try:
        with transaction.atomic():
            locked = SigningKey.objects.select_for_update().filter(algorithm=algorithm)
            active = locked.filter(state=_State.ACTIVE).first()
            if active is None:
                return []
            if not force and active.activated is not None and now - active.activated <= period:
                return []
            promoted = locked.filter(state=_State.NEXT).first()
            active.state, active.deactivated = _State.PREVIOUS, now
            active.save(update_fields=["state", "deactivated"])
            if promoted is None:
                promoted = _new_key(algorithm, _State.ACTIVE, now)
                promoted.save()
            else:
                promoted.state, promoted.activated = _State.ACTIVE, now
                promoted.save(update_fields=["state", "activated"])
            new_next = _new_key(algorithm, _State.NEXT, now)
            new_next.save()
    except IntegrityError:  # a concurrent rotation won
        return []
    return [
        f"{algorithm}: activated {promoted.kid}, previous {active.kid}, new next {new_next.kid}"
    ]


def _retire(algorithms: tuple[str, ...], now: datetime) -> list[str]:
    cutoff = now - max_token_lifetime() - RETIREMENT_MARGIN
    lines = []
    with transaction.atomic():
        expired = SigningKey.objects.select_for_update().filter(
            algorithm__in=algorithms, state=_State.PREVIOUS, deactivated__lt=cutoff
        )
        for key in expired:
            key.state, key.retired, key.private_key_encrypted = _State.RETIRED, now, ""
            key.save(update_fields=["state", "retired", "private_key_encrypted"])
            lines.append(f"{key.algorithm}: retired {key.kid}")
    return lines


def discard_unreadable_keys() -> list[str]:
    """Take keys this secret cannot decrypt out of service and make fresh ones.

    Only for an operator who lost the encryption secret
    (``rotatekeys --discard-unreadable``): the instances that still hold the
    old secret must be given the new one. An active key becomes previous (its
    public half stays published, so the tokens it signed still verify until
    they expire); a next key never signed anything and is retired. Both
    private keys are erased: they are unusable here anyway.
    """
    now = timezone.now()
    lines = []
    with transaction.atomic():
        for key in SigningKey.objects.select_for_update().filter(
            state__in=[_State.ACTIVE, _State.NEXT], algorithm__in=SUPPORTED_ALGORITHMS
        ):
            if _material(key) is not None:
                continue
            if key.state == _State.ACTIVE:
                key.state, key.deactivated = _State.PREVIOUS, now
            else:
                key.state, key.retired = _State.RETIRED, now
            key.private_key_encrypted = ""
            key.save(update_fields=["state", "deactivated", "retired", "private_key_encrypted"])
            lines.append(f"{key.algorithm}: discarded unreadable key {key.kid} (now {key.state})")
        lines += _ensure(now)
    if lines:
        _invalidate()
        record(
            Action.SIGNING_KEY_ROTATED,
            details={"changes": lines, "forced": True, "discarded_unreadable": True},
        )
    return lines


def _refuse_if_unreadable() -> None:
    """Creating or promoting keys next to ones this secret cannot read would hand the
    cluster keys its other instances cannot read: refuse instead."""
    if unreadable_keys():
        report_unreadable_keys()
        raise SigningKeyUnavailableError()


def _invalidate() -> None:
    _memo.clear()
    _forget_jwks()
    # Again after commit: another process may have re-cached the old set meanwhile. The
    # new version goes out only then, so no process reloads the keys before they commit.
    transaction.on_commit(_forget_jwks)
    transaction.on_commit(_bump_version)


def _bump_version() -> None:
    try:
        cache.set(KEYS_VERSION_CACHE_KEY, secrets.token_hex(8), None)
    except Exception as exc:  # the memo expires by itself (MEMO_SECONDS)
        log_dependency_failure(
            logger,
            "signing key version write",
            "signing key version not published: the cache is unavailable (%s)",
            type(exc).__name__,
        )


def _check_version() -> None:
    """Drop the memo when another process changed the keys (at most one GET per second)."""
    now = time.monotonic()
    if now - _memo_version["checked"] < VERSION_CHECK_SECONDS:
        return
    _memo_version["checked"] = now
    try:
        version = cache.get(KEYS_VERSION_CACHE_KEY)
    except Exception as exc:  # keep the memo: MEMO_SECONDS still bounds it
        log_dependency_failure(
            logger,
            "signing key version read",
            "signing key version unknown: the cache is unavailable (%s)",
            type(exc).__name__,
        )
        return
    if version != _memo_version["version"]:
        _memo.clear()
        _memo_version["version"] = version


def _forget_jwks() -> None:
    try:
        cache.delete(JWKS_CACHE_KEY)
    except Exception as exc:  # the cache entry expires by itself (JWKS_CACHE_SECONDS)
        log_dependency_failure(
            logger, "jwks cache delete", "JWKS cache invalidation failed (%s)", type(exc).__name__
        )


# --- Key material ----------------------------------------------------------------


def _new_key(algorithm: str, state: str, now: datetime) -> SigningKey:
    generated = JWK.generate(**_GENERATE[algorithm])
    kid = generated.thumbprint()
    labels = {"kid": kid, "use": "sig", "alg": algorithm}
    private = json.dumps({**generated.export_private(as_dict=True), **labels})
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        state=state,
        public_jwk={**generated.export_public(as_dict=True), **labels},
        private_key_encrypted=_fernet().encrypt(private.encode()).decode(),
        activated=now if state == _State.ACTIVE else None,
    )


def _material(key: SigningKey) -> SigningKeyMaterial | None:
    """The decrypted private key, or None when the current secret cannot read it."""
    if not key.private_key_encrypted:
        return None
    try:
        private = JWK.from_json(_fernet().decrypt(key.private_key_encrypted.encode()))
    except (InvalidToken, JWException, ValueError, TypeError):
        return None
    if not private.has_private or private.thumbprint() != key.kid:
        return None
    return SigningKeyMaterial(
        kid=key.kid, algorithm=key.algorithm, jwk=private, private_key=private.get_op_key("sign")
    )


def _fernet() -> Fernet:
    secret = authsite_settings.KEY_ENCRYPTION_SECRET.encode()
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authsite signing keys"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def _active_key(algorithm: str) -> SigningKey | None:
    return SigningKey.objects.filter(algorithm=algorithm, state=_State.ACTIVE).first()


def _public_jwk(key: SigningKey) -> dict[str, Any]:
    """Rebuilt from an allow-list, so a private member can never be published by mistake."""
    kty = key.public_jwk.get("kty")
    members = {name: key.public_jwk[name] for name in _PUBLIC_MEMBERS.get(kty, ())}
    return {"kty": kty, **members, "kid": key.kid, "use": "sig", "alg": key.algorithm}


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")


# --- Parsing ---------------------------------------------------------------------


def _split(token: str) -> list[str]:
    """The three base64url segments of a compact JWS, or InvalidJWT."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise InvalidJWT("malformed token")
    return parts


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _decode_segment(segment: str, what: str) -> dict:
    """One base64url JSON object of a compact JWS; duplicate members rejected (RFC 7515 §5.2)."""
    try:
        value = json.loads(_b64decode(segment), object_pairs_hook=_no_duplicates)
    except (binascii.Error, ValueError, RecursionError) as exc:  # deep nesting: hostile input
        raise InvalidJWT(f"malformed {what}") from exc
    if not isinstance(value, dict):
        raise InvalidJWT(f"{what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate member")
    return value


def _typ(value: object) -> str | None:
    """``typ`` compared case-insensitively, ``application/`` optional (RFC 7515 §4.1.9)."""
    if not isinstance(value, str):
        return None
    return value.lower().removeprefix("application/")
