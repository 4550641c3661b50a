"""How and when the user of a session signed in, for the OIDC auth_time/amr/acr/sid claims."""

from __future__ import annotations

import hashlib
import time

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
