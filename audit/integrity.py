"""Tamper evidence: an HMAC per event, and chained seals over runs of events.

Writing an event takes no lock: its HMAC covers only its own content (and a
random nonce, so a copied row collides). A periodic job seals the events older
than a grace period, in id order, into an :class:`AuditSeal` whose HMAC covers
the previous seal and every sealed event's digest. ``verify`` then reports the
first altered, inserted or missing event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from django.db import transaction
from django.utils import timezone

from audit.models import CONTENT_FIELDS, AuditEvent, AuditSeal
from common.conf import authsite_settings

GENESIS = "0" * 64
SIGNED_FIELDS = (*CONTENT_FIELDS, "nonce")

_keys: dict[str, bytes] = {}


def _key() -> bytes:
    secret = authsite_settings.AUDIT_HMAC_SECRET
    if secret not in _keys:
        _keys.clear()
        _keys[secret] = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"authsite audit trail"
        ).derive(secret.encode())
    return _keys[secret]


def canonical(event: AuditEvent) -> bytes:
    values = {}
    for name in SIGNED_FIELDS:
        value = getattr(event, name)
        if name == "occurred_at":
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif value is not None and name in ("ip", "nonce"):
            value = str(value)
        values[name] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_digest(event: AuditEvent) -> str:
    return hmac.new(_key(), canonical(event), hashlib.sha256).hexdigest()


def seal_digest(previous: str, first_id: int, last_id: int, digests: list[str]) -> str:
    mac = hmac.new(_key(), f"{previous}|{first_id}|{last_id}|".encode(), hashlib.sha256)
    for digest in digests:
        mac.update(digest.encode())
    return mac.hexdigest()


def id_runs(ids: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for event_id in ids:
        if runs and runs[-1][1] == event_id - 1:
            runs[-1][1] = event_id
        else:
            runs.append([event_id, event_id])
    return runs


def expand(runs: list[list[int]]) -> Iterator[int]:
    for first, last in runs:
        yield from range(first, last + 1)


def seal_events(*, grace_seconds: int | None = None, now=None) -> AuditSeal | None:
    """Seal every unsealed event older than the grace period (None when there is none).

    The grace period lets transactions that wrote an event commit before its id
    range is sealed; one seal at a time (a row lock on the newest seal).
    """
    grace = authsite_settings.AUDIT_SEAL_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = (now or timezone.now()) - timedelta(seconds=grace)
    with transaction.atomic():
        last = AuditSeal.objects.select_for_update().order_by("-last_id").first()
        after = last.last_id if last else 0
        newest = (
            AuditEvent.objects.filter(id__gt=after, occurred_at__lt=cutoff)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if newest is None:
            return None
        rows = (
            AuditEvent.objects.filter(id__gt=after, id__lte=newest)
            .order_by("id")
            .values_list("id", "digest")
        )
        ids, digests = [], []
        for event_id, digest in rows.iterator(chunk_size=5000):
            ids.append(event_id)
            digests.append(digest)
        previous = last.digest if last else GENESIS
        return AuditSeal.objects.create(
            first_id=ids[0],
            last_id=ids[-1],
            event_count=len(ids),
            id_runs=id_runs(ids),
            previous_digest=previous,
            digest=seal_digest(previous, ids[0], ids[-1], digests),
        )


@dataclass
class Problem:
    kind: str  # altered | inserted | missing | seal
    event_id: int | None
    message: str


@dataclass
class VerifyReport:
    events_checked: int
    seals_checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify() -> VerifyReport:
    """Check every event's HMAC and every seal; stop at the first problem in id order."""
    checked = 0
    seals = list(AuditSeal.objects.order_by("first_id"))
    events = AuditEvent.objects.order_by("id").iterator(chunk_size=2000)
    current = next(events, None)
    # After pruning, the first kept seal's link to the removed one is the anchor.
    previous_digest = seals[0].previous_digest if seals else GENESIS

    def failed(kind: str, event_id: int | None, message: str) -> VerifyReport:
        return VerifyReport(checked, len(seals), Problem(kind, event_id, message))

    for seal in seals:
        where = f"sealed range {seal.first_id}-{seal.last_id}"
        if seal.previous_digest != previous_digest:
            return failed("seal", seal.first_id, f"the seal of {where} is not chained")
        digests = []
        for expected_id in expand(seal.id_runs):
            if current is not None and current.id < expected_id:
                return failed("inserted", current.id, f"event {current.id} was inserted ({where})")
            if current is None or current.id != expected_id:
                return failed("missing", expected_id, f"event {expected_id} is missing ({where})")
            if event_digest(current) != current.digest:
                return failed("altered", current.id, f"event {current.id} was altered")
            digests.append(current.digest)
            checked += 1
            current = next(events, None)
        if current is not None and current.id <= seal.last_id:
            return failed("inserted", current.id, f"event {current.id} was inserted ({where})")
        if seal_digest(seal.previous_digest, seal.first_id, seal.last_id, digests) != seal.digest:
            return failed("seal", seal.first_id, f"the seal of {where} does not match")
        previous_digest = seal.digest
    while current is not None:
        if event_digest(current) != current.digest:
            return failed("altered", current.id, f"event {current.id} was altered")
        checked += 1
        current = next(events, None)
    return VerifyReport(checked, len(seals), None)
