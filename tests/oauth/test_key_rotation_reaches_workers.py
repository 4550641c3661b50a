"""A forced key rotation reaches every worker within a few seconds.

The answer to a key compromise is ``rotatekeys --force``; it only helps once no
worker signs with the replaced key. Each worker memoises its keys, and one kept
signing with the replaced key for 34 s. Rotation now replaces a version in Redis
that every worker compares at most once a second (oauth/keys.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.servers import REPO, Server, base_env, manage

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CONNECTIONS = 8
DEADLINE_SECONDS = 3.0


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _worker_pids(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _server_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if (local_port, remote_port) == (server_port, client_port):
                return fields[9]
    return None


class Probe:
    """Keep-alive connections to the server; says which worker answered each request."""

    def __init__(self, server: Server, client_id: str, secret: str) -> None:
        self.server = server
        self.auth = (client_id, secret)
        self.clients = [httpx.Client(base_url=server.url, timeout=10) for _ in range(CONNECTIONS)]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def reconnect(self) -> None:
        """New connections: on an idle machine one worker can win every accept of a round."""
        self.close()
        self.clients = [
            httpx.Client(base_url=self.server.url, timeout=10) for _ in range(CONNECTIONS)
        ]

    def _worker(self, response: httpx.Response) -> int | None:
        stream = response.extensions.get("network_stream")
        client_port = stream.get_extra_info("client_addr")[1] if stream else None
        inode = _server_inode(self.server.port, client_port) if client_port else None
        for pid in _worker_pids(self.server.process.pid):
            if inode and inode in _socket_inodes(pid):
                return pid
        return None

    def token(self, client: httpx.Client) -> tuple[str, int | None]:
        response = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=self.auth
        )
        assert response.status_code == 200, response.text
        return _kid(response.json()["access_token"]), self._worker(response)

    def jwks(self, client: httpx.Client) -> tuple[set[str], int | None]:
        response = client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        return {key["kid"] for key in response.json()["keys"]}, self._worker(response)

    def round(self, what) -> list:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            return list(pool.map(what, self.clients))


def test_a_forced_rotation_reaches_every_worker_within_seconds(tmp_path, postgres_url, redis_url):
    env = base_env(tmp_path, DATABASE_URL=postgres_url["url"], REDIS_URL=redis_url)
    assert manage(env, "migrate", "--noinput").returncode == 0
    created = manage(
        env,
        "createclient",
        "--name",
        "Service",
        "--confidential",
        "--grant",
        "client_credentials",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)

    with Server(env, workers=2) as server:
        probe = Probe(server, client["client_id"], client["client_secret"])
        try:
            # Every worker signs (and so memoises the active key) before the rotation.
            before = []
            for _ in range(30):
                answers = probe.round(probe.token)
                before += answers
                if len({pid for _, pid in answers if pid}) == 2:
                    break  # these connections reach both workers: keep them
                probe.reconnect()
            old_kids = {kid for kid, _ in before}
            assert len(old_kids) == 1
            assert len({pid for _, pid in answers if pid}) == 2, before

            # Rotate from another process while the workers keep answering.
            rotation = subprocess.Popen(
                [sys.executable, "manage.py", "rotatekeys", "--force", "--algorithm", "ES256"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            stop = threading.Event()

            def keep_alive():
                while not stop.is_set():
                    probe.round(probe.token)
                    time.sleep(0.2)

            warm = threading.Thread(target=keep_alive)
            warm.start()
            out, err = rotation.communicate(timeout=120)
            rotated_at = time.monotonic()
            stop.set()
            warm.join()
            assert rotation.returncode == 0, err
            assert "ES256: activated" in out  # access tokens are ES256 by default

            # From the rotation's end, every answer from every worker uses the new key.
            switched_at = None
            after = []
            while time.monotonic() - rotated_at < DEADLINE_SECONDS + 5:
                tokens = probe.round(probe.token)
                elapsed = time.monotonic() - rotated_at
                after.append((elapsed, tokens))
                if switched_at is None and not {kid for kid, _ in tokens} & old_kids:
                    switched_at = elapsed
                if switched_at is not None and elapsed > switched_at + 1:
                    break
                time.sleep(0.1)
            print(f"all {CONNECTIONS} connections: new key {switched_at}s after the rotation")
            assert switched_at is not None and switched_at <= DEADLINE_SECONDS, after
            late = [
                (elapsed, kid, pid)
                for elapsed, tokens in after
                if elapsed > switched_at
                for kid, pid in tokens
            ]
            assert late and not {kid for _, kid, _ in late} & old_kids
            assert len({pid for _, _, pid in late if pid}) == 2, late
            new_kid = late[0][1]

            # Every worker publishes the new active key (and the new next key) in its JWKS.
            jwks = probe.round(probe.jwks)
            for _ in range(10):
                if len({pid for _, pid in jwks if pid}) == 2:
                    break
                jwks += probe.round(probe.jwks)
            assert len({pid for _, pid in jwks if pid}) == 2
            assert all(new_kid in kids and old_kids <= kids for kids, _ in jwks)
        finally:
            probe.close()
