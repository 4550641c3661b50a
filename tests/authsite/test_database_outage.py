"""PostgreSQL going away and coming back, under a real gunicorn.

While the database is unreachable every request that needs it is answered quickly
with 503 and ``Retry-After`` (JSON on machine endpoints, the branded page
elsewhere) and readiness is red; once it is back, service resumes within seconds
with no 500 in between: broken pooled connections are checked and dropped, never
handed to a request.

The test runs its own PostgreSQL (initdb into a temporary directory) so that it
can stop and start it without touching the shared one.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server, base_env, free_port, manage

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POOL_TIMEOUT = 1.0  # DATABASE_POOL_TIMEOUT of the server under test
FAST = POOL_TIMEOUT + 1.0  # longest acceptable answer while the database is down
BURST = 4


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port, run as the postgres user."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = Path(binaries[-1])
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="authsite-pg-"))
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/authsite"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def init(self) -> Postgres:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "authsite")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres():
    cluster = Postgres().init()
    try:
        yield cluster
    finally:
        cluster.destroy()


# One request of each kind that needs the database: (label, method, path, machine?)
REQUESTS = [
    ("token", "POST", "/oauth/token", True),
    ("introspection", "POST", "/oauth/introspect", True),
    ("sign-in page", "GET", "/accounts/login/", False),
]


def send(client: httpx.Client, method: str, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    if method == "POST":
        response = client.post(
            path,
            data={"grant_type": "client_credentials", "token": "t"},
            auth=("no-such-client", "secret"),
        )
    else:
        # A session cookie: the page looks the session up in the database.
        response = client.get(path, headers={"Cookie": "sessionid=" + "a" * 32})
    return response, time.monotonic() - started


def test_database_outage_answers_503_fast_and_recovers_within_seconds(tmp_path, postgres):
    env = base_env(
        tmp_path,
        DATABASE_URL=postgres.url,
        DATABASE_POOL_TIMEOUT=str(POOL_TIMEOUT),
        DATABASE_CONNECT_TIMEOUT="2",
        AUTHSITE_HEALTH_CHECK_TIMEOUT_SECONDS="2",
        AUTHSITE_SITE_NAME="Example Identity",
    )
    migrated = manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    with Server(env) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for label, method, path, _ in REQUESTS:
            response, _ = send(client, method, path)
            assert response.status_code < 500, (label, response.text)
        assert client.get("/health/ready").status_code == HTTPStatus.OK

        postgres.stop()
        timings = []
        for _round in range(3):
            for label, method, path, machine in REQUESTS:
                response, elapsed = send(client, method, path)
                timings.append((label, response.status_code, elapsed))
                assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, (
                    label,
                    response.text,
                )
                assert int(response.headers["retry-after"]) > 0
                if machine:
                    assert response.headers["content-type"] == "application/json"
                    assert response.json()["error"] == "temporarily_unavailable"
                else:
                    assert response.headers["content-type"].startswith("text/html")
                    assert "Example Identity" in response.text
                    assert "Temporarily unavailable" in response.text
                assert elapsed < FAST, f"{label} took {elapsed:.2f}s while the database was down"
        # A burst: concurrent requests wait for the pool side by side, not one after another.
        with ThreadPoolExecutor(BURST) as pool:
            burst = list(pool.map(lambda _: send(client, "POST", "/oauth/token"), range(BURST)))
        assert all(r.status_code == HTTPStatus.SERVICE_UNAVAILABLE for r, _ in burst)
        assert max(elapsed for _, elapsed in burst) < FAST
        print(f"\nburst of {BURST}:", ", ".join(f"{e * 1000:.0f}ms" for _, e in burst))
        ready = client.get("/health/ready")
        assert ready.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert ready.json()["failed"] == ["database"]
        print(
            "\nwhile down:",
            ", ".join(f"{name} {code} {t * 1000:.0f}ms" for name, code, t in timings),
        )

        postgres.start()
        restarted = time.monotonic()
        seen = []
        recovered_at = None
        while time.monotonic() - restarted < 15:
            statuses = [
                send(client, method, path)[0].status_code for _, method, path, _ in REQUESTS
            ]
            seen += statuses
            if all(status < 500 for status in statuses):
                recovered_at = time.monotonic() - restarted
                break
            time.sleep(0.2)
        assert recovered_at is not None, f"no recovery within 15 s: {seen}"
        print(f"recovered {recovered_at:.2f}s after PostgreSQL started; statuses meanwhile {seen}")
        assert recovered_at < 6
        for _round in range(5):  # and it stays recovered: no broken connection handed out
            for label, method, path, _ in REQUESTS:
                response, _ = send(client, method, path)
                seen.append(response.status_code)
                assert response.status_code < 500, (label, response.status_code)
        assert HTTPStatus.INTERNAL_SERVER_ERROR not in seen
        assert client.get("/health/ready").status_code == HTTPStatus.OK
        log = server.output()
        assert "Traceback" not in log
        assert " ERROR django.request" not in log, (
            "an outage is a WARNING, not an error per request"
        )
