"""The native fast path: the hot OAuth endpoints as plain ASGI callables in front of Django.

Design D of the performance design note (docs/architecture.md, "The request
path"): a router answers discovery, JWKS, ``client_credentials`` tokens,
introspection and revocation of JWT access tokens, and userinfo, without
entering Django, and hands every other request, and every request it cannot
prove it answers exactly as Django would, to Django unchanged (the buffered
body replayed). It decides nothing of its own: client authentication, scopes,
token claims, storage and the audit event follow the same modules and tables
as the Django path, and the parity suite (tests/oauth/test_fastpath_parity.py)
sends the same requests to both.

- ``app``: the router, the lifespan, and what Django's machinery would give
  (request id, security headers, ALLOWED_HOSTS, a body cap, metrics, access
  log, a logged JSON 500).
- ``http``: the request and response the handlers see.
- ``backends``: the async PostgreSQL pool, the Redis client, the version
  poller and group commit.
- ``clients``: client records per worker, client authentication and its throttle.
- ``access_tokens``: verifying a presented JWT access token and reading the deny list,
  shared by introspection, revocation and userinfo.
- ``documents``, ``token``, ``introspection``, ``revoke``, ``userinfo``: the endpoints.
"""
