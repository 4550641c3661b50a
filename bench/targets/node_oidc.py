"""node-oidc-provider as a benchmark peer: one Node process, PostgreSQL adapter, 127.0.0.1.

The pinned packages are installed by ``bench/peers/install.py`` into the git-ignored
``bench/peers/.install/node``; the server and its seeder are ``bench/peers/node/*.mjs``.

Semantics a reader of the ratio table must know (see also bench/peers/README.md):

- client_credentials issues node's *opaque* token (one row through the adapter), no JWT.
- Client secrets are compared as plain strings (node-oidc-provider's only mode).
- Introspection and revocation act on client_credentials tokens; introspection without a
  ``token_type_hint`` looks the value up as AccessToken, ClientCredentials and RefreshToken
  (three queries, node's own behaviour). A revoked token is a deleted row.
- code exchange and refresh carry ``openid offline_access``: node issues a refresh token only
  with offline_access, and signs an ID token (RS256) for openid, like the other targets.
- ``authorize`` and ``signin`` are not offered: node's sign-in and consent are an interaction
  flow the application implements itself (no built-in login form), so there is nothing
  faithful to measure; ``health_ready`` and the floors do not exist for node.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.peers import install
from bench.peers.harness import (
    FORM,
    ServerProcess,
    basic_auth,
    ensure_database,
    free_port,
    peer_database_url,
    pkce_pair,
)
from bench.targets.base import Scenario, Target

NODE_DIR = install.NODE_SOURCE
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
)
REDIRECT_URI = "https://client.example/callback"
SEED_TIMEOUT = 600


def _rsa_jwk() -> dict:
    from jwcrypto import jwk  # lazy: only needed when the peer starts

    key = jwk.JWK.generate(kty="RSA", size=2048, alg="RS256", use="sig", kid="bench-rs256")
    return json.loads(key.export_private())


class NodeOidcTarget(Target):
    name = "node_oidc"

    def __init__(self, database_url: str | None = None, pool_size: int = 10) -> None:
        self.database_url = (
            database_url
            or os.environ.get("BENCH_NODE_DATABASE_URL")
            or peer_database_url("bench_node")
        )
        # Only this peer's PostgreSQL backends count towards its server CPU.
        self.database_names = (urlsplit(self.database_url).path.lstrip("/"),)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.pool_size = pool_size
        self.verifier, challenge = pkce_pair()
        self.cc_client = ("bench-cc", secrets.token_urlsafe(24))
        self.code_client = ("bench-code", secrets.token_urlsafe(24))
        self._dir = tempfile.TemporaryDirectory(prefix="bench-node-")
        self.config_path = Path(self._dir.name) / "config.json"
        self.config = {
            "issuer": self.base_url,
            "port": self.port,
            "database_url": self.database_url,
            "pool_size": pool_size,
            "cookie_keys": [secrets.token_urlsafe(32)],
            "jwks": {"keys": [_rsa_jwk()]},
            "clients": [
                {
                    "client_id": self.cc_client[0],
                    "client_secret": self.cc_client[1],
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "redirect_uris": [],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                {
                    "client_id": self.code_client[0],
                    "client_secret": self.code_client[1],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "redirect_uris": [REDIRECT_URI],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
            ],
            "seed": {
                "account": {"id": "bench-user-1", "email": "bench@example.com", "name": "Bench"},
                "code_client": self.code_client[0],
                "cc_client": self.cc_client[0],
                "pkce": {"challenge": challenge},
            },
        }
        self.server: ServerProcess | None = None

    def _env(self, install_dir: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", self._dir.name),
            "NODE_ENV": "production",
            "BENCH_NODE_INSTALL": str(install_dir),
            "BENCH_NODE_CONFIG": str(self.config_path),
        }

    def start(self) -> None:
        install_dir = install.ensure_node_peer()
        ensure_database(self.database_url)
        self.config_path.write_text(json.dumps(self.config))
        self.config_path.chmod(0o600)
        self.server = ServerProcess(
            ["node", "server.mjs"], cwd=NODE_DIR, env=self._env(install_dir), name=self.name
        )
        self.server.start(f"{self.base_url}/.well-known/openid-configuration")

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def server_pids(self) -> list[int]:
        return [self.server.pid] if self.server else []

    def worker_pids(self) -> list[int]:
        return self.server_pids()

    def _seed(self, names: list[str], count: int) -> dict:
        result = subprocess.run(
            ["node", "seed.mjs", json.dumps({"names": names, "count": count})],
            cwd=NODE_DIR,
            env=self._env(install.ensure_node_peer()),
            capture_output=True,
            text=True,
            timeout=SEED_TIMEOUT,
        )
        if result.returncode:
            raise RuntimeError(f"node seed.mjs failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout)

    def prepare(self, names: list[str], count: int) -> dict[str, Scenario]:
        names = [name for name in names if name in SUPPORTED]
        ensure_database(self.database_url)
        self.config_path.write_text(json.dumps(self.config))
        minted = self._seed(names, count)
        cc_auth = {"Authorization": basic_auth(*self.cc_client), "Content-Type": FORM}
        code_auth = {"Authorization": basic_auth(*self.code_client), "Content-Type": FORM}
        build = {
            "discovery": lambda: Scenario("discovery", "GET", "/.well-known/openid-configuration"),
            "jwks": lambda: Scenario("jwks", "GET", "/jwks"),
            "client_credentials": lambda: Scenario(
                "client_credentials",
                "POST",
                "/token",
                headers=cc_auth,
                body=urlencode({"grant_type": "client_credentials"}),
            ),
            "code_exchange": lambda: Scenario(
                "code_exchange",
                "POST",
                "/token",
                headers=code_auth,
                bodies=[
                    urlencode(
                        {
                            "grant_type": "authorization_code",
                            "code": code,
                            "redirect_uri": REDIRECT_URI,
                            "code_verifier": self.verifier,
                        }
                    )
                    for code in minted["codes"]
                ],
            ),
            "refresh": lambda: Scenario(
                "refresh",
                "POST",
                "/token",
                headers=code_auth,
                bodies=[
                    urlencode({"grant_type": "refresh_token", "refresh_token": token})
                    for token in minted["refresh_tokens"]
                ],
            ),
            "introspect_active": lambda: Scenario(
                "introspect_active",
                "POST",
                "/token/introspection",
                headers=cc_auth,
                body=urlencode({"token": minted["active_token"]}),
            ),
            "introspect_revoked": lambda: Scenario(
                "introspect_revoked",
                "POST",
                "/token/introspection",
                headers=cc_auth,
                body=urlencode({"token": minted["revoked_token"]}),
            ),
            "revoke": lambda: Scenario(
                "revoke",
                "POST",
                "/token/revocation",
                headers=cc_auth,
                bodies=[urlencode({"token": token}) for token in minted["revoke_tokens"]],
            ),
            "userinfo": lambda: Scenario(
                "userinfo",
                "GET",
                "/me",
                headers={"Authorization": f"Bearer {minted['userinfo_token']}"},
            ),
        }
        return {name: build[name]() for name in names}
