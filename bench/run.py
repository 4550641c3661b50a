"""The benchmark: authsite (and, with --peers, its peers) under wrk, on 127.0.0.1 only.

For each target: start it in the production shape, seed it, then for each
scenario a warm-up and a timed wrk run; print one Markdown table per target
(req/s, p50, p99, errors, 5xx, server CPU ms per request, worker RSS before and
after) and, with --peers, authsite's CPU ms per request as a ratio to each
peer's. Results go to bench/results/ as JSON too. See the README, "Benchmark".

    make bench                              # authsite alone
    make bench-peers      # authsite, plain django-oauth-toolkit, node-oidc-provider
    .venv/bin/python bench/run.py --scenarios discovery,client_credentials --duration 5
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import (  # noqa: E402
    WRK,
    LoadSettings,
    Result,
    cpu_seconds_between,
    cpu_snapshot,
    loopback_only,
    run_scenario,
)
from bench.targets.base import SCENARIOS, Target  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PEERS = {"dot_plain": "plain django-oauth-toolkit", "node_oidc": "node-oidc-provider"}
QUICK_SCENARIOS = ("discovery", "client_credentials", "introspect_active")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
BENCH_REDIS_DB = 12


class TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise TimeLimit("the benchmark ran past its time limit")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--duration", type=float, help="timed window per scenario, s (10)")
    parser.add_argument("--warmup", type=float, help="warm-up per scenario, s (3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--count", type=int, help="single-use bodies per scenario")
    parser.add_argument("--scale", action="store_true", help="1,000,000 users, 10,000,000 tokens")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny counts, 1 s windows")
    parser.add_argument(
        "--peers", action="store_true", help="also plain DOT and node-oidc-provider"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--time-limit", type=float, help="hard limit for the whole run, s")
    parser.add_argument(
        "--database-name",
        default="authsite_bench",
        help="created empty and dropped afterwards, on the server of DATABASE_URL",
    )
    parser.add_argument(
        "--redis-url",
        help=f"flushed first (default: REDIS_URL's server, database {BENCH_REDIS_DB})",
    )
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    args.duration = args.duration or (1.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    names = (
        args.scenarios.split(",")
        if args.scenarios
        else (QUICK_SCENARIOS if args.quick else SCENARIOS)
    )
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.names = [name for name in SCENARIOS if name in names]
    # Enough single-use bodies for ~4,000 req/s over warm-up and window, the rate the peers reach.
    args.count = args.count or (
        300 if args.quick else min(60_000, int(4000 * (args.duration + args.warmup)))
    )
    return args


def local_service(url: str, what: str) -> str:
    """The benchmark creates and drops a database and flushes a Redis database: never remotely."""
    if urlsplit(url).hostname not in (None, "localhost", "127.0.0.1", "::1"):
        raise SystemExit(f"refusing {what} on another machine ({urlsplit(url).hostname})")
    return url


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith("postgres"):
        raise SystemExit("the benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    return local_service(url, "to create and drop the benchmark database")


def redis_url(args) -> str:
    if args.redis_url:
        return local_service(args.redis_url, "to flush a Redis database")
    parts = urlsplit(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    url = parts._replace(path=f"/{BENCH_REDIS_DB}").geturl()
    return local_service(url, "to flush a Redis database")


def make_targets(args) -> list[Target]:
    from bench.targets.authsite import AuthsiteTarget  # lazy: imports Django's test helpers

    options = {
        "database_url": database_url(),
        "redis_url": redis_url(args),
        "database_name": args.database_name,
        "scale": args.scale,
        "quick": args.quick,
        "keep_database": args.keep_database,
    }
    targets: list[Target] = [AuthsiteTarget(**options)]
    if args.peers:
        for module_name, title in PEERS.items():
            targets.append(load_peer(module_name, title, options))
    return targets


def load_peer(module_name: str, title: str, options: dict) -> Target:
    """The one Target subclass defined in bench/targets/<module_name>.py."""
    try:
        module = importlib.import_module(f"bench.targets.{module_name}")
    except ModuleNotFoundError as exc:
        raise SystemExit(
            f"{title} is not available: bench/targets/{module_name}.py is missing ({exc}). "
            "The peers live in bench/peers/ and bench/targets/; see the README, Benchmark."
        ) from exc
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Target)
        and not inspect.isabstract(obj)
        and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise SystemExit(f"bench/targets/{module_name}.py must define exactly one Target subclass")
    accepted = inspect.signature(classes[0]).parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return classes[0](**options)
    return classes[0](**{k: v for k, v in options.items() if k in accepted})


# --- the machine ------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        mem_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, IndexError, ValueError):
        pass
    wrk = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout.split(" [")[0].strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk,
    }


def service_versions(db_url: str, r_url: str) -> dict:
    versions = {}
    try:
        import psycopg

        with psycopg.connect(db_url, connect_timeout=5) as conn:
            versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception as exc:  # reported, not fatal: the target's own start fails clearly
        versions["postgresql"] = f"unreachable ({type(exc).__name__})"
    try:
        import redis

        versions["redis"] = redis.Redis.from_url(r_url, socket_timeout=5).info("server")[
            "redis_version"
        ]
    except Exception as exc:
        versions["redis"] = f"unreachable ({type(exc).__name__})"
    return versions


def background_cpu_ms_per_s(target: Target, seconds: float = 2.0) -> float:
    """CPU the measured processes spend with no load at all (other work on the machine)."""
    databases = tuple(getattr(target, "database_names", ()))
    before = cpu_snapshot(target.server_pids(), databases)
    time.sleep(seconds)
    after = cpu_snapshot(target.server_pids(), databases)
    return cpu_seconds_between(before, after) * 1000 / seconds


# --- output -----------------------------------------------------------------------------


def table(title: str, results: list[Result]) -> str:
    lines = [
        f"### {title}",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors | 5xx | CPU ms/req | RSS MB before→after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        name = r.scenario + (" (bodies used up)" if r.bodies_used_up else "")
        if r.note and not r.requests:
            lines.append(f"| {name} | {r.note} | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
            f"{r.status_5xx} | {r.cpu_ms_per_request:.3f} | "
            f"{r.rss_before_mb:.0f}→{r.rss_after_mb:.0f} |"
        )
    return "\n".join(lines)


def ratio_table(runs: list[dict]) -> str:
    base = {r["scenario"]: r for r in runs[0]["results"]}
    peers = runs[1:]
    header = "| scenario | " + " | ".join(f"authsite ÷ {p['title']}" for p in peers) + " |"
    lines = [
        "### authsite's CPU ms/request ÷ each peer's (below 1: authsite is cheaper)",
        "",
        header,
        "|---|" + "---:|" * len(peers),
    ]
    for name in SCENARIOS:
        if name not in base or not base[name]["cpu_ms_per_request"]:
            continue
        cells = []
        for peer in peers:
            other = {r["scenario"]: r for r in peer["results"]}.get(name)
            if other and other["cpu_ms_per_request"]:
                cells.append(
                    f"{base[name]['cpu_ms_per_request'] / other['cpu_ms_per_request']:.2f}"
                )
            else:
                cells.append("–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_line(info: dict, args) -> str:
    m = info["machine"]
    s = info["services"]
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, "
        f"Python {m['python']}, PostgreSQL {s['postgresql']}, Redis {s['redis']}, {m['wrk']}. "
        f"Load: wrk, {args.connections} connections, {args.threads} threads, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per scenario, 127.0.0.1."
    )


def argon2_note(run: dict) -> str | None:
    limit = run.get("argon2")
    signin = next((r for r in run["results"] if r["scenario"] == "signin" and r["requests"]), None)
    if not limit:
        return None
    per_core = limit["verifications_per_second_per_core"]
    text = f"Argon2 limit: {per_core:.1f} password verifications/s per core ({limit['hasher']})"
    if signin and run.get("workers"):
        ceiling = per_core * run["workers"]
        signed_in = signin["successes"] / signin["seconds"] if signin["seconds"] else 0.0
        text += (
            f"; sign-in POST {signed_in:.1f} successful sign-ins/s = {signed_in / ceiling:.0%} of "
            f"limit × {run['workers']} workers ({ceiling:.1f}/s)"
        )
    return text + "."


# --- the run ----------------------------------------------------------------------------


def run_target(target: Target, args, settings: LoadSettings) -> dict:
    title = getattr(target, "title", None) or PEERS.get(getattr(target, "name", ""), target.name)
    run = {"target": target.name, "title": title, "results": []}
    try:
        print(f"[bench] {title}: starting", file=sys.stderr, flush=True)
        target.start()
        loopback_only(target.base_url)
        print(f"[bench] {title}: seeding", file=sys.stderr, flush=True)
        started = time.monotonic()
        scenarios = target.prepare(list(args.names), args.count)
        run["prepare_seconds"] = round(time.monotonic() - started, 1)
        run["argon2"] = getattr(target, "argon2", None)
        run["workers"] = len(target.worker_pids())
        run["background_cpu_ms_per_s"] = round(background_cpu_ms_per_s(target), 1)
        for name in args.names:
            scenario = scenarios.get(name)
            if scenario is None:
                run["results"].append(asdict(Result(scenario=name, note="not supported")))
                continue
            print(f"[bench] {title}: {name}", file=sys.stderr, flush=True)
            result = run_scenario(
                scenario,
                target.base_url,
                target.server_pids,
                target.worker_pids,
                settings,
                tuple(getattr(target, "database_names", ())),
            )
            run["results"].append(asdict(result))
    finally:
        target.stop()
    return run


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = LoadSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
    targets = make_targets(args)
    per_target = len(args.names) * (args.duration + args.warmup + 15)
    seeding = 4 * 3600 if args.scale else (120 if args.quick else 900)
    limit = args.time_limit or len(targets) * (per_target + seeding)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(limit))
    signal.signal(signal.SIGTERM, _alarm)
    info = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "services": service_versions(database_url(), redis_url(args)),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "count": args.count,
            "scale": args.scale,
            "quick": args.quick,
        },
        "runs": [],
    }
    try:
        for target in targets:
            info["runs"].append(run_target(target, args, settings))
    except TimeLimit as exc:
        print(f"[bench] stopped: {exc} ({limit:.0f} s)", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
    print(machine_line(info, args))
    for run in info["runs"]:
        print()
        print(table(run["title"], [Result(**r) for r in run["results"]]))
        print()
        background = run["background_cpu_ms_per_s"]
        notes = [
            argon2_note(run),
            f"Background CPU of the measured processes with no load: {background} ms/s "
            "(other work on this machine; included in the CPU figures).",
        ]
        print("\n".join(note for note in notes if note))
    if len(info["runs"]) > 1:
        print()
        print(ratio_table(info["runs"]))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [RESULTS / f"bench-{stamp}.json"] + ([args.json] if args.json else [])
    for path in paths:
        path.write_text(json.dumps(info, indent=2))
    print(f"\nJSON: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    failed = [
        (run["target"], r["scenario"])
        for run in info["runs"]
        for r in run["results"]
        if r["errors"] or r["status_5xx"]
    ]
    if failed:
        listed = ", ".join(f"{target} {scenario}" for target, scenario in failed)
        print(f"[bench] errors or 5xx in: {listed} (exit status 1)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
