"""What accounts tells the rest of authsite (accounts never imports oauth).

oauth/receivers.py reacts: revoking tokens when credentials change or an account
is disabled. Each signal carries the user and the request when there is one.
"""

from __future__ import annotations

from django.dispatch import Signal

# user, request, reason ("password_changed" | "password_reset" | "mfa_removed" | ...):
# other sessions are ended by accounts; refresh tokens must be revoked.
credentials_changed = Signal()
# user, request: the account is disabled; every session and token must end.
user_disabled = Signal()
