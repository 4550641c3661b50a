"""What the authorization server tells the rest of authsite (the audit trail listens).

Each signal is sent once per event with plain keyword arguments; none of them
ever carries a token, code or secret, only who and what.
"""

from __future__ import annotations

from django.dispatch import Signal

# client, user (None for client_credentials), grant_type, scopes
token_issued = Signal()
# client, user, token_type ("access_token" | "refresh_token")
token_revoked = Signal()
# client, user: a rotated refresh token came back; its whole family was revoked
refresh_token_reused = Signal()
# client, user, revoked (count): a redeemed code came back with its verifier
authorization_code_replayed = Signal()
# client, user, scopes
consent_granted = Signal()
# client, user, scopes: a code was handed to the client's redirect URI
code_issued = Signal()
