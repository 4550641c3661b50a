"""What both peer targets share: their database, their server process, the client material.

Kept free of authsite and of Django settings, so the targets can be imported by the driver
and by the test suite alike; each peer's own code runs in its own subprocess.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

FORM = "application/x-www-form-urlencoded"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peer_database_url(name: str) -> str:
    """The URL of database ``name`` on the PostgreSQL server DATABASE_URL names."""
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    return urlunsplit(("postgres", parts.netloc, f"/{name}", "", ""))


def ensure_database(url: str) -> None:
    """Create the peer's database if it does not exist yet (never drops or empties one)."""
    import psycopg  # lazy: only the targets need a driver, not whoever imports them

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def pkce_pair() -> tuple[str, str]:
    """A code_verifier and its S256 code_challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class ServerProcess:
    """A peer's server in its own process group, its output kept in a temporary log."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], name: str) -> None:
        self.argv, self.cwd, self.env = argv, cwd, env
        self._log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log")
        self.process: subprocess.Popen | None = None

    def start(self, ready_url: str, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"{self.argv[0]} exited with {code}:\n{self.output()}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{ready_url} did not answer within {timeout}s:\n{self.output()}")

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was not started"
        return self.process.pid

    def output(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        if not self.process:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left in the group (the workers of a killed master) goes too
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.process = None
