"""The token endpoint's grants as plain services: decisions apart from storage.

- ``authorization_code``: redeeming a code (client binding, expiry, single use,
  PKCE S256, exact redirect URI; a replay revokes what the code minted).
- ``refresh``: rotating a refresh token (rotation on every use, reuse revokes
  the family, idle and absolute lifetimes, scope narrowing only).

Each decision is a pure function of plain values (the client, the form
parameters, the stored record, ``now``) that returns or raises one
``oauth.exceptions.OAuthError`` subclass carrying the RFC 6749 error code and
status. ``services`` runs a decision against a :class:`~oauth.grants.store.GrantStore`:
``orm.OrmGrantStore`` (Django's ORM) or ``postgres.PostgresGrantStore`` (the
fast path's async psycopg pool). Both write the token rows, the family binding
and the audit event in one transaction; tests/oauth/test_grant_stores.py runs
the same contract against both.
"""
