"""Ambiguous request framing is refused by the server authsite ships (RFC 9112 §6.1, §6.3, §11.2).

Raw bytes on a socket to a real gunicorn with authsite's uvicorn worker: a request
whose length two parsers could read differently (Content-Length with
Transfer-Encoding, an obfuscated coding, conflicting lengths) gets a 400 and the
connection is closed, so the bytes after it are never read as a second request.
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests.support.servers import Server, base_env, manage

pytestmark = [pytest.mark.slow, pytest.mark.spec("RFC 9112", "6.1")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    var = tmp_path_factory.mktemp("smuggling")
    env = base_env(var)
    assert manage(env, "migrate", "--noinput").returncode == 0
    with Server(env) as running:
        yield running


def exchange(server, data: bytes, *, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data``; return everything the server sent and whether it closed the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received, False
            if not chunk:
                return received, True
            received += chunk
            sock.settimeout(max(0.1, deadline - time.monotonic()))
        return received, False


def smuggled(marker: str) -> bytes:
    return f"GET /smuggled-{marker} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


VARIANTS = {
    "content-length and chunked": ["Content-Length: 4", "Transfer-Encoding: chunked"],
    "chunked then content-length": ["Transfer-Encoding: chunked", "Content-Length: 4"],
    "content-length and upper-case chunked": ["Content-Length: 4", "transfer-encoding: CHUNKED"],
    "content-length and chunked with tab": ["Content-Length: 4", "Transfer-Encoding:\tchunked"],
    "chunked, identity": ["Content-Length: 4", "Transfer-Encoding: chunked, identity"],
    "identity, chunked": ["Transfer-Encoding: identity, chunked"],
    "xchunked": ["Content-Length: 4", "Transfer-Encoding: xchunked"],
    "two transfer-encodings": ["Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
    "chunked without content-length but with a bad coding": ["Transfer-Encoding: gzip"],
    "two different content-lengths": ["Content-Length: 4", "Content-Length: 40"],
    "a list of content-lengths": ["Content-Length: 4, 40"],
    "signed content-length": ["Content-Length: +4"],
    "space before the colon": ["Content-Length: 4", "Transfer-Encoding : chunked"],
}


@pytest.mark.spec("RFC 9112", "6.1")
@pytest.mark.parametrize("headers", VARIANTS.values(), ids=VARIANTS.keys())
def test_ambiguous_framing_is_refused_and_the_connection_closed(server, headers):
    """RFC 9112 §6.1: a server MUST close the connection after a request with both
    Content-Length and Transfer-Encoding; §6.3: an invalid length or coding is a 400.
    The bytes that follow are never processed as another request."""
    marker = uuid.uuid4().hex
    head = "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "\r\n".join(headers)
    data = head.encode() + b"\r\n\r\n0\r\n\r\n" + smuggled(marker)
    received, closed = exchange(server, data)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1, received
    assert closed, "the connection stays open after an ambiguous request"
    time.sleep(0.2)
    assert f"smuggled-{marker}" not in server.output()


@pytest.mark.spec("RFC 9112", "9.3.2")
def test_pipelined_requests_are_still_answered(server):
    """RFC 9112 §9.3.2, the control: the same socket and two well-framed requests give two
    answers, so the test above would see a second response if there were one."""
    marker = uuid.uuid4().hex
    first = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received, _ = exchange(server, first + smuggled(marker), timeout=2)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 404 " in received


@pytest.mark.spec("RFC 9112", "7.1")
def test_chunked_body_alone_is_accepted(server):
    """RFC 9112 §7.1: Transfer-Encoding: chunked on its own is valid framing and is read
    normally."""
    body = b"grant_type=client_credentials"
    data = (
        b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )
    received, closed = exchange(server, data)
    assert received.startswith(b"HTTP/1.1 401 "), received[:300]  # no client credentials
    assert b'"error": "invalid_client"' in received
