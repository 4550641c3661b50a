"""The gunicorn worker class: uvicorn, with proxy handling and access logs left to Django,
and an HTTP/1.1 parser that refuses ambiguous message framing.

uvicorn would otherwise rewrite the client address from X-Forwarded-For on its
own trust list and write access lines that include query strings (where an
``access_token`` sent by mistake would land). authsite does both itself, in
:mod:`authsite.middleware`, from ``AUTHSITE_TRUSTED_PROXIES``.

Request smuggling (RFC 9112 §6.1, §11.2): h11 already refuses a conflicting or
malformed ``Content-Length``, several ``Transfer-Encoding`` fields and any coding
but a lone ``chunked``; a request with both ``Content-Length`` and
``Transfer-Encoding`` it would read as chunked and keep the connection open.
:class:`StrictH11Protocol` answers that one 400 and closes the connection before
reading the body, so whatever a front proxy took for a second request never runs.
The protocol is named explicitly rather than left to ``auto``, which would pick
httptools (a different parser) whenever it happens to be installed.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker as _UvicornWorker


class StrictConnection(h11.Connection):
    """h11's server connection, refusing a request that carries both framing headers."""

    def next_event(self):
        event = super().next_event()
        if isinstance(event, h11.Request):
            names = {name for name, _ in event.headers}
            if b"content-length" in names and b"transfer-encoding" in names:
                # uvicorn answers a RemoteProtocolError with 400 and closes the connection.
                raise h11.RemoteProtocolError(
                    "both Content-Length and Transfer-Encoding", error_status_hint=400
                )
        return event


class StrictH11Protocol(H11Protocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size
        self.conn = (
            StrictConnection(h11.SERVER)
            if limit is None
            else StrictConnection(h11.SERVER, max_incomplete_event_size=limit)
        )


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": StrictH11Protocol,
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
        "lifespan": "auto",
    }
