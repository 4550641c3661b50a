"""Redeeming an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.5).

The checks run in oauthlib's order, so every error answers exactly as the
token endpoint answered under DOT alone: the code (issued to this client,
not yet redeemed, not expired), then PKCE, then the redirect URI. A code that
passes the first step is spent even if PKCE or the redirect URI then fails
(``spends_code``), as DOT claims it before those checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from oauth.exceptions import (
    CodeReplayedError,
    InvalidGrantError,
    MissingCodeVerifierError,
)
from oauth.grants.records import CodeRecord


def s256(verifier: str) -> str:
    """RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(code: CodeRecord, verifier: str | None) -> bool:
    if not verifier or not code.code_challenge:
        return False
    if code.code_challenge_method == "S256":
        computed = s256(verifier)
    elif code.code_challenge_method == "plain":  # refused at authorization (RFC 9700 §2.1.1)
        computed = verifier
    else:
        return False
    return hmac.compare_digest(computed.encode(), code.code_challenge.encode())


def check_redemption(
    client,
    params: dict,
    code: CodeRecord | None,
    now: datetime,
    *,
    pkce_required: bool = True,
) -> list[str]:
    """Return the scopes the code grants to ``client``; raise the RFC error otherwise.

    ``code`` is the stored code of that value *for this client* (None when there
    is none: unknown, or issued to another client). ``params`` are the form
    parameters (``code_verifier``, ``redirect_uri``). The caller has already
    authenticated ``client`` and checked that it may use the grant.

    Raises ``CodeReplayedError`` for a redeemed code presented with its verifier
    (the caller revokes what the code minted), ``InvalidGrantError`` or
    ``MissingCodeVerifierError`` otherwise, with ``spends_code`` set when the
    code is to be burnt.
    """
    if code is None or code.application_id != client.pk:
        raise InvalidGrantError()
    verifier = params.get("code_verifier")
    if code.redeemed is not None:
        if verifier_matches(code, verifier):
            raise CodeReplayedError(code.code_hash, code.user)
        raise InvalidGrantError()
    if now >= code.expires:
        raise InvalidGrantError()
    # From here on the code is spent whatever happens (oauthlib validates PKCE after the code).
    if code.code_challenge:
        if verifier is None:
            raise MissingCodeVerifierError()
        if not code.code_challenge_method:
            raise InvalidGrantError("Challenge method not found", spends_code=True)
        if not verifier_matches(code, verifier):
            raise InvalidGrantError(spends_code=True)
    elif pkce_required:
        if verifier is None:
            raise MissingCodeVerifierError()
        raise InvalidGrantError("Challenge not found", spends_code=True)
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        redirect_uri = client.default_redirect_uri
    if not redirect_uri or redirect_uri != code.redirect_uri:
        raise InvalidGrantError(
            "redirect_uri does not match the authorization request.", spends_code=True
        )
    return code.scope.split(" ")
