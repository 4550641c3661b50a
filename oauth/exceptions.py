"""The authorization server's expected failures, each an ``AuthsiteError``.

On the OAuth and OpenID Connect endpoints an error's ``code`` is the RFC error
code (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3, OIDC Core §3.1.2.6) and its
``message`` the ``error_description``; ``oauth/errors.py`` renders them, and
nothing else reaches a client. Throttling raises ``ThrottledError``.
"""

from __future__ import annotations

from common.exceptions import AuthsiteError


class OAuthError(AuthsiteError):
    """An RFC 6749 §5.2 error: ``code`` (alias ``error``) is the RFC error code,
    ``message`` (alias ``description``) the ``error_description``, ``status`` the HTTP status.
    """

    code = "invalid_request"
    status = 400
    message = "The request is missing a parameter or is otherwise malformed."

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description, code=error, status=status)

    @property
    def error(self) -> str:
        """The RFC error code, under the name the RFCs give it."""
        return self.code

    @property
    def description(self) -> str:
        """The ``error_description``: safe to show, never an echo of a secret."""
        return self.message


class InvalidGrantError(OAuthError):
    """RFC 6749 §5.2 ``invalid_grant``: the code or refresh token is unknown, expired,
    spent, revoked, bound to another client or redirect URI, or fails its PKCE check.

    The description is empty where oauthlib gives none, so the JSON carries no
    ``error_description`` then, exactly as the token endpoint answers today.
    ``spends_code`` is True when the code must be burnt anyway (oauthlib's order:
    the code is claimed before PKCE and the redirect URI are checked).
    """

    spends_code = False

    def __init__(self, description: str = "", *, spends_code: bool = False) -> None:
        super().__init__("invalid_grant", description)
        self.spends_code = spends_code


class MissingCodeVerifierError(OAuthError):
    """RFC 7636 §4.5: a code issued with a challenge (or any code, PKCE being required)
    redeemed without ``code_verifier`` (``invalid_request``, oauthlib's description)."""

    spends_code = True

    def __init__(self) -> None:
        super().__init__("invalid_request", "Code verifier required.")


class InvalidScopeError(OAuthError):
    """RFC 6749 §6: a refresh asked for a scope the original grant did not include."""

    def __init__(self, description: str = "") -> None:
        super().__init__("invalid_scope", description)


class CodeReplayedError(InvalidGrantError):
    """A redeemed code came back with its PKCE verifier (OAuth 2.1 §4.1.3, RFC 9700 §4.5):
    everything minted from it is revoked; the client still only sees ``invalid_grant``."""

    def __init__(self, grant_code_hash: str, user) -> None:
        super().__init__()
        self.grant_code_hash = grant_code_hash
        self.user = user


class RefreshTokenReusedError(InvalidGrantError):
    """A rotated or revoked refresh token came back (RFC 9700 §4.14.2): its whole family is
    revoked; the client still only sees ``invalid_grant``."""

    def __init__(self, token_family, application, user) -> None:
        super().__init__()
        self.token_family = token_family
        self.application = application
        self.user = user


class ClaimsRequestError(AuthsiteError, ValueError):
    """The ``claims`` parameter is not a claims request (OIDC Core §5.5); the message says why.

    The authorization endpoint answers it with ``invalid_request``.
    """

    code = "invalid_request"
    message = "The claims parameter is not a claims request."


class InvalidJWT(AuthsiteError, ValueError):
    """A JWT this server did not sign, that was altered, or that is no longer valid.

    Callers treat the token as unknown (RFC 6750 §3.1 ``invalid_token``); the
    message says what was wrong, for logs and tests, never for the client.
    """

    code = "invalid_token"
    status = 401
    message = "The token is not valid."


class SigningKeyUnavailableError(AuthsiteError):
    """The active signing key cannot be decrypted with this instance's secret.

    The token endpoint answers ``temporarily_unavailable``; the message is for
    the operator (``manage.py rotatekeys`` prints it, the log names it).
    """

    code = "signing_key_unavailable"
    status = 503
    message = (
        "The stored signing keys cannot be decrypted with this instance's "
        "AUTHSITE_KEY_ENCRYPTION_SECRET: set it to the value the other instances use. "
        "This instance signs no tokens and reports not ready until then; it never replaces "
        "the keys. If the secret is really lost, run "
        "`manage.py rotatekeys --discard-unreadable` once."
    )


class TokenNotStoredError(AuthsiteError):
    """The fast path's group commit could not store a token row and its audit event
    (oauth/fastpath/backends.py); the token was never handed out, so the client may retry."""

    code = "temporarily_unavailable"
    status = 503
    message = "The server could not store the token; retry later."


class DenyListRebuildInterrupted(AuthsiteError):
    """The cache lost its data while the deny list was being rebuilt from the database.

    The epoch is not written, so the list stays marked incomplete (callers keep
    reading rows) and the periodic job runs the rebuild again.
    """

    code = "deny_list_rebuild_interrupted"
    status = 503
    message = "The deny list was lost again during its rebuild; it will be rebuilt once more."
