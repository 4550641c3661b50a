"""What every HTTP answer of authsite carries, whoever produces it.

Django's request middleware (authsite/middleware.py) and the native fast path
(oauth/fastpath/app.py) both answer HTTP requests; the request id rule and the
security headers live here so the two cannot drift apart.
"""

from __future__ import annotations

import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# No 'unsafe-inline' for scripts. Inline style attributes are allowed because
# Django's admin uses them. form-action is left out on purpose: browsers apply
# it to the redirect that follows a consent POST, which goes to the client.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def request_id_from(candidate: str | None) -> str:
    """The caller's X-Request-ID when it is sane, otherwise a new one."""
    if candidate and _SANE_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex
