"""Benchmark: latency and server CPU per request for authsite's endpoints.

Starts a real gunicorn with one uvicorn worker (the production server) on the
embedded default, and again on PostgreSQL + Redis when DATABASE_URL and
REDIS_URL are set, sends sequential keep-alive requests from this process and
prints one Markdown table. "CPU ms/req" is the worker's user+system CPU time
divided by the number of requests, read from /proc: it does not depend on how
busy the machine is, unlike wall-clock latency.

    make bench                       # or: .venv/bin/python bench/run.py --requests 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.servers import Server, base_env, manage  # noqa: E402

ENDPOINTS = [
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/detailed"),
    ("GET", "/metrics"),
    ("GET", "/admin/login/"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/jwks.json"),
]
CLK_TCK = os.sysconf("SC_CLK_TCK")
AUDIT_COSTS: dict[str, float] = {}


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(p) for p in children.read_text().split()]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / CLK_TCK


def measure(server: Server, method: str, path: str, requests: int, **kwargs) -> dict:
    pids = worker_pids(server.process.pid)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for _ in range(min(100, requests)):
            http.request(method, path, **kwargs)
        latencies = []
        cpu_before = cpu_seconds(pids)
        started = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            response = http.request(method, path, **kwargs)
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status_code >= 500:
                raise SystemExit(f"{method} {path} answered {response.status_code}")
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu_before
    latencies.sort()
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95) - 1],
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "rps": requests / wall,
        "cpu_ms": cpu * 1000 / requests,
    }


def run_profile(name: str, env: dict, requests: int) -> list[tuple]:
    for command in (("migrate", "--noinput"), ("collectstatic", "--noinput")):
        result = manage(env, *command)
        if result.returncode:
            raise SystemExit(result.stderr)
    created = manage(
        env,
        "createclient",
        "--name",
        "bench",
        "--confidential",
        "--grant",
        "client_credentials",
        "--json",
    )
    if created.returncode:
        raise SystemExit(created.stderr)
    client = json.loads(created.stdout)
    auth = (client["client_id"], client["client_secret"])
    AUDIT_COSTS[name] = audit_record_ms(env)
    rows = []
    with Server({**env, "AUTHSITE_ACCESS_LOG": "true", "LOG_LEVEL": "WARNING"}) as server:
        for method, path in ENDPOINTS:
            rows.append((name, f"{method} {path}", measure(server, method, path, requests)))
        grant = {"grant_type": "client_credentials"}
        rows.append(
            (
                name,
                "POST /oauth/token (client_credentials, secret_basic)",
                measure(server, "POST", "/oauth/token", requests, data=grant, auth=auth),
            )
        )
        token = httpx.post(f"{server.url}/oauth/token", data=grant, auth=auth).json()
        rows.append(
            (
                name,
                "POST /oauth/introspect (JWT access token)",
                measure(
                    server,
                    "POST",
                    "/oauth/introspect",
                    requests,
                    data={"token": token["access_token"]},
                    auth=auth,
                ),
            )
        )
    return rows


AUDIT_PROBE = """
import time
from audit.events import Action, Outcome
from audit.services import record
for _ in range(50):
    record(Action.LOGIN_FAILED, outcome=Outcome.FAILURE, target=("login", "bench", "bench"))
started = time.perf_counter()
for i in range(1000):
    record(Action.LOGIN_FAILED, outcome=Outcome.FAILURE, target=("login", "bench", "bench"),
           details={"reason": "bad_credentials", "n": i})
print((time.perf_counter() - started) * 1000 / 1000)
"""


def audit_record_ms(env: dict) -> float:
    """Wall time of one audit.services.record (INSERT + HMAC, autocommit) in this profile."""
    result = manage(env, "shell", "-c", AUDIT_PROBE)
    if result.returncode:
        raise SystemExit(result.stderr)
    return float(result.stdout.strip().splitlines()[-1])


def argon2_verify_ms() -> float:
    """What one Argon2id password check costs here, the cost client secrets avoid."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher()  # Django's Argon2PasswordHasher uses these defaults
    encoded = hasher.hash("a password of ordinary length")
    started = time.process_time()
    for _ in range(5):
        hasher.verify(encoded, "a password of ordinary length")
    return (time.process_time() - started) * 1000 / 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per endpoint")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="authsite-bench-") as tmp:
        rows += run_profile("embedded (SQLite, locmem)", base_env(Path(tmp) / "e"), args.requests)
        database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
        if database_url and database_url.startswith("postgres") and redis_url:
            env = base_env(Path(tmp) / "s", DATABASE_URL=database_url, REDIS_URL=redis_url)
            rows += run_profile("PostgreSQL + Redis", env, args.requests)
    print(
        f"\n{args.requests} sequential keep-alive requests per endpoint, "
        "gunicorn + 1 uvicorn worker, loopback\n"
    )
    print(
        f"One Argon2id password verification costs {argon2_verify_ms():.1f} ms of CPU here; "
        "a client_credentials token request costs far less (client secrets use a keyed "
        "SHA-256, oauth/hashers.py).\n"
    )
    for profile, cost in AUDIT_COSTS.items():
        print(f"Recording one audit event ({profile}): {cost:.3f} ms (INSERT + HMAC, own commit).")
    print()
    print("| profile | endpoint | p50 ms | p95 ms | p99 ms | req/s | server CPU ms/req |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for profile, endpoint, m in rows:
        print(
            f"| {profile} | {endpoint} | {m['p50']:.2f} | {m['p95']:.2f} | {m['p99']:.2f} "
            f"| {m['rps']:.0f} | {m['cpu_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
