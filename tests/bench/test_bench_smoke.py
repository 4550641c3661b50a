"""`make bench` cannot rot: a seconds-long run of the real driver, tiny counts.

The benchmark itself never runs in `make test`; this runs bench/run.py --quick
(gunicorn in the production shape, seeding, wrk, the /proc CPU reading) on the
suite's PostgreSQL and Redis and checks that its table comes out clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.support.servers import REPO
from tests.support.workers import spare_redis_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

SCENARIOS = ("discovery", "client_credentials", "introspect_active")


def test_quick_benchmark_prints_a_clean_table(postgres_url, redis_url, tmp_path):
    # The benchmark creates its database, seeds it and drops it: a name of its own on the
    # suite's server, never the session's shared database (later tests still need that).
    database = f"authsite_bench_smoke_{uuid.uuid4().hex[:10]}"
    # It flushes its Redis database first: this worker's spare one, not the suite's.
    bench_redis_url = spare_redis_url(redis_url)
    assert shutil.which("wrk"), "the benchmark drives wrk (Debian package wrk)"
    results = tmp_path / "bench.json"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DATABASE_URL": postgres_url["url"],
        "REDIS_URL": bench_redis_url,
    }
    run = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--quick",
            f"--scenarios={','.join(SCENARIOS)}",
            f"--database-name={database}",
            f"--redis-url={bench_redis_url}",
            f"--json={results}",
            "--time-limit=90",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The suite's database is still there for the tests after this one.
    psycopg.connect(postgres_url["url"].replace("postgres://", "postgresql://")).close()
    assert "| scenario | req/s | p50 ms | p99 ms | errors | 5xx | CPU ms/req |" in run.stdout
    rows = {r["scenario"]: r for r in json.loads(results.read_text())["runs"][0]["results"]}
    assert set(rows) == set(SCENARIOS)
    for name, row in rows.items():
        assert row["requests"] > 0, name
        assert row["errors"] == 0 and row["status_5xx"] == 0, (name, row["statuses"])
        assert row["cpu_ms_per_request"] > 0, name
        assert f"| {name} | " in run.stdout
