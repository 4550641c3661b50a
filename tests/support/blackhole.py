from __future__ import annotations

import socket


class BlackHole:
    """A port that completes the TCP handshake and then never answers: a hung dependency."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()
