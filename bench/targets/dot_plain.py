"""A plain django-oauth-toolkit project as a benchmark peer (bench/peers/dot/).

Served like authsite: gunicorn with uvicorn workers (uvicorn-worker's stock class, its
default HTTP parser), workers = cores, bound to 127.0.0.1, DEBUG off, PostgreSQL through
psycopg with Django's pool and CONN_MAX_AGE 0. It runs from the same virtualenv and imports
nothing from authsite; its seeding runs in a subprocess with its own settings.

Semantics a reader of the ratio table must know (see also bench/peers/README.md):

- DOT's default client-secret hasher is PBKDF2 (Django's 1,000,000 iterations): every
  client-authenticated request (client_credentials, code exchange, refresh, introspection,
  revocation) pays ~0.3 s of CPU for it, so those rows measure the hasher, not DOT. With
  ``plain_secrets=True`` (or ``BENCH_DOT_PLAIN_SECRETS=1``), the target ``dot_plain_secret``
  stores the clients with ``hash_client_secret=False`` to measure DOT itself.
- client_credentials issues an opaque token (one row); code exchange and refresh carry
  ``openid`` and sign an RS256 ID token (stored as an IDToken row, DOT's way).
- A revoked token is a deleted row (DOT's revocation); introspection reads it by checksum.
- ``authorize`` uses DOT's ``approval_prompt=auto`` (consent remembered as a live token of
  the user and client) with a signed-in session cookie; ``signin`` is Django's LoginView
  with DOT's default password hasher, PBKDF2, not Argon2.
- There is no ``/health/ready`` and there are no floors: those scenarios are skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bench.peers import install
from bench.peers.harness import (
    ServerProcess,
    children,
    ensure_database,
    free_port,
    peer_database_url,
)
from bench.targets.base import Scenario, Target

PEERS_DIR = install.PEERS
SUPPORTED = (
    "discovery",
    "jwks",
    "client_credentials",
    "code_exchange",
    "refresh",
    "introspect_active",
    "introspect_revoked",
    "revoke",
    "userinfo",
    "authorize",
    "signin",
)
SEED_TIMEOUT = 900
BIN = Path(sys.executable).parent


class DotPlainTarget(Target):
    name = "dot_plain"

    def __init__(
        self,
        database_url: str | None = None,
        workers: int | None = None,
        plain_secrets: bool | None = None,
    ) -> None:
        self.database_url = (
            database_url
            or os.environ.get("BENCH_DOT_DATABASE_URL")
            or peer_database_url("bench_dot")
        )
        # Only this peer's PostgreSQL backends count towards its server CPU.
        self.database_names = (urlsplit(self.database_url).path.lstrip("/"),)
        self.workers = workers or os.cpu_count() or 1
        if plain_secrets is None:
            plain_secrets = os.environ.get("BENCH_DOT_PLAIN_SECRETS", "") in ("1", "true", "yes")
        self.plain_secrets = plain_secrets
        if plain_secrets:
            self.name = "dot_plain_secret"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.secret_key = secrets.token_urlsafe(50)
        self.server: ServerProcess | None = None

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(PEERS_DIR),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "dot.settings",
            "BENCH_DOT_SECRET_KEY": self.secret_key,
            "BENCH_DOT_DATABASE_URL": self.database_url,
            "BENCH_DOT_RSA_KEY_FILE": str(install.ensure_dot_peer()),
            "BENCH_DOT_PLAIN_SECRETS": "1" if self.plain_secrets else "",
        }

    def start(self) -> None:
        ensure_database(self.database_url)
        self.server = ServerProcess(
            [
                str(BIN / "gunicorn"),
                "--worker-class",
                "uvicorn_worker.UvicornWorker",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(PEERS_DIR),
                # authsite's gunicorn config disables the control socket too
                "--no-control-socket",
                "dot.asgi:application",
            ],
            cwd=PEERS_DIR,
            env=self._env(),
            name=self.name,
        )
        self.server.start(f"{self.base_url}/o/.well-known/openid-configuration")

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def server_pids(self) -> list[int]:
        if not self.server:
            return []
        return [self.server.pid, *children(self.server.pid)]

    def worker_pids(self) -> list[int]:
        return children(self.server.pid) if self.server else []

    def prepare(self, names: list[str], count: int) -> dict[str, Scenario]:
        names = [name for name in names if name in SUPPORTED]
        ensure_database(self.database_url)
        result = subprocess.run(
            [sys.executable, "-m", "dot.seed", json.dumps({"names": names, "count": count})],
            cwd=PEERS_DIR,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=SEED_TIMEOUT,
        )
        if result.returncode:
            raise RuntimeError(f"seeding the DOT peer failed:\n{result.stderr[-4000:]}")
        scenarios = json.loads(result.stdout)
        return {
            name: Scenario(
                name=name,
                method=spec["method"],
                path=spec["path"],
                headers=spec.get("headers", {}),
                body=spec.get("body"),
                bodies=spec.get("bodies"),
                expect=tuple(spec.get("expect", (200,))),
            )
            for name, spec in scenarios.items()
        }
