"""Run the benchmark: servers up, seed, warm up, interleaved rounds, a Markdown report.

python -m bench                  # 5 rounds of 3 s per scenario and server kind (~6 min)
python -m bench --smoke          # every scenario once, 200 requests: fails on any error
python -m bench --rounds 7 --seconds 5 --out /tmp/bench.md
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import report
from bench.database import DEFAULT_SERVER, free_connection_slots, throwaway_database
from bench.load import LoadResult, ensure_wrk, run_wrk
from bench.procs import backends_cpu_seconds
from bench.runtime import production_bin
from bench.scenarios import (
    APP,
    APP_LOG_SAVE,
    APP_VARIANT,
    NO_DATABASE_ROLES,
    ROLE_ENV,
    ROLE_TARGETS,
    Fixture,
    Scenario,
    groups,
    variant_groups,
)
from bench.seed import seed
from bench.servers import GUNICORN_WORKERS, ROOT, Server, ServerSpec

KINDS = ("gunicorn", "uvicorn")
MAX_CONNECTIONS = 16  # the most any scenario opens (bench/scenarios.py)
SLOTS_KEPT_FREE = 4  # for the harness's own connections and anyone else's
Key = tuple[str, str]
SMOKE_ROLES_EVERY_KIND = (APP, APP_LOG_SAVE)
FIRST_PORT = int(os.environ.get("BENCH_PORT", "18400"))
STARTUP_REPEATS = 3
DEEP_ITEMS = 1_000_000
SMOKE_ITEMS = 10_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds; fail on any error")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per scenario run")
    parser.add_argument("--kinds", default=",".join(KINDS), help="gunicorn,uvicorn")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE", DEFAULT_SERVER))
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument(
        "--items",
        type=int,
        default=DEEP_ITEMS,
        help="items seeded for the bench user, for the deep pages (smoke: 10,000)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="compare the service with these settings against it as it is (repeatable)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="wrk connections for every scenario (default: each scenario's own, 16 or 4)",
    )
    parser.add_argument("--profile", default="", help="py-spy a worker under this scenario")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    return parser.parse_args(argv)


def base_env(database_url: str, logs: Path) -> dict[str, str]:
    """Production-like settings for the service; limits off so load is not refused."""
    return {
        "DATABASE_URL": database_url,
        "STATUS": "prod",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIRST_SUPERUSER_PASSWORD": secrets.token_urlsafe(24),
        "JSON_LOG": "true",
        "LEVEL": "INFO",
        "ACCESS_LOG": "true",
        "SAVE": "false",
        "LOG_SAVE_PATH": str(logs / "saved"),
        "RATE_LIMIT_ENABLED": "false",
        # Steady state: no worker recycling mid-run (scripts/loadcheck.py measures recycling).
        "MAX_REQUESTS": "0",
        "ACCESS_TOKEN_EXPIRE_MINUTES": "600",
        # Read only by the servers with the cache on (CACHE_TTL_SECONDS); keys of this run's own
        "REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"),
        "CACHE_KEY_PREFIX": f"bench-{secrets.token_hex(5)}",
    }


def fit_pools(servers: dict[Key, Server], free_slots: int) -> None:
    """The same pool for every server of a kind, as large as the load can use (one
    connection per wrk connection) and small enough that all of them fit in PostgreSQL
    together: every pool keeps the connections it opened, and the service's default of 20
    per worker times all the benchmark's workers would pass the default limit of 100."""
    processes = sum(
        GUNICORN_WORKERS if kind == "gunicorn" else 1
        for (kind, role) in servers
        if role not in NO_DATABASE_ROLES
    )
    size = max(1, min(MAX_CONNECTIONS, (free_slots - SLOTS_KEPT_FREE) // max(processes, 1)))
    # Load shedding never refuses the benchmark's own connections: one worker may hold all of
    # a run's connections while the last requests of the run before it are still in progress.
    limit = str(max(2 * size, 2 * MAX_CONNECTIONS))
    for server in servers.values():
        server.env.update(
            {"DB_POOL_SIZE": str(size), "DB_MAX_OVERFLOW": "0", "MAX_REQUESTS_IN_PROGRESS": limit}
        )
    print(f"database pool per worker: {size} ({processes} processes, {free_slots} free slots)")


def measure(
    server: Server, scenario: Scenario, wrk: str, args: argparse.Namespace
) -> dict[str, float]:
    """One wrk run against one server, with the server's and PostgreSQL's CPU time before and
    after (the backends of the run's database: only one server is loaded at a time)."""
    database = make_url(server.env["DATABASE_URL"]).database or ""
    before, database_before = server.cpu_seconds(), backends_cpu_seconds(database)
    result: LoadResult = run_wrk(
        wrk,
        server.port,
        scenario.request,
        seconds=args.seconds,
        connections=scenario.connections,
        max_requests=200 if args.smoke else 0,
    )
    cpu = server.cpu_seconds() - before
    database_cpu = backends_cpu_seconds(database) - database_before
    if result.errors and result.first_bad:
        print(f"  ! {scenario.name}: first non-2xx status {result.first_bad}", flush=True)
    return {
        "rps": result.rps,
        "p50": result.p50_ms,
        "p99": result.p99_ms,
        "errors": result.errors,
        "requests": result.requests,
        "cpu_us": cpu / result.requests * 1e6 if result.requests else float("nan"),
        "pg_cpu_us": database_cpu / result.requests * 1e6 if result.requests else float("nan"),
    }


def compile_bytecode() -> None:
    """Compile every module once, as a production image does (UV_COMPILE_BYTECODE=1): with
    PYTHONDONTWRITEBYTECODE set, each start would otherwise parse every source file again."""
    site_packages = [p for p in sys.path if p.endswith("site-packages")]
    folders = [*site_packages, *(str(ROOT / name) for name in ("app", "bench", "migrations"))]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", *folders],
        check=False,
        capture_output=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke:
        args.rounds, args.seconds = 1, 1
        args.items = min(args.items, SMOKE_ITEMS)
    kinds = [k for k in args.kinds.split(",") if k]
    wrk = ensure_wrk()
    print("production dependencies for the servers (uv sync --no-dev)", flush=True)
    bin_dir = production_bin()
    compile_bytecode()
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    started_at = time.perf_counter()
    startup: dict[Key, list[tuple[float, float]]] = {}
    idle: dict[Key, list[tuple[float, float]]] = {}
    after: dict[Key, list[tuple[float, float]]] = {}
    fast: dict[Key, str] = {}
    results: report.Results = defaultdict(list)
    plan: list[list[Scenario]] = []
    fixture: Fixture | None = None
    variant = dict(item.split("=", 1) for item in args.variant)
    with throwaway_database(args.database) as database_url:
        env = base_env(database_url, logs)  # once: both kinds share the secret and the data
        # One kind's servers at a time: every pool keeps its connections open, and all the
        # servers of both kinds together would need more than PostgreSQL's default 100.
        for kind in kinds[:1] if args.profile else kinds:
            servers = make_servers(
                kind,
                env,
                logs,
                smoke=args.smoke and kind != kinds[-1],
                variant=variant,
                bin_dir=bin_dir,
            )
            fit_pools(servers, free_connection_slots(args.database))
            try:
                startup |= start_all(
                    servers, repeats=STARTUP_REPEATS, parallel=args.smoke or bool(args.profile)
                )
                idle |= {key: server.memory_per_worker() for key, server in servers.items()}
                fast |= {key: server.fast_paths() for key, server in servers.items()}
                if fixture is None:
                    print(f"seeding {args.items:,} items", flush=True)
                    fixture = seed(servers[kind, APP].port, database_url, items=args.items)
                    chosen = (
                        variant_groups(fixture, " ".join(args.variant))
                        if args.variant
                        else groups(fixture)
                    )
                    plan = [
                        [with_connections(s, args.connections) for s in g if args.only in s.name]
                        for g in chosen
                    ]
                if args.profile:
                    return run_profile(
                        args=args, wrk=wrk, servers=servers, fixture=fixture, kind=kind, logs=logs
                    )
                for key, values in run_rounds(args, wrk, [kind], plan, servers).items():
                    results[key].extend(values)
                after |= {key: server.memory_per_worker() for key, server in servers.items()}
            finally:
                for server in servers.values():
                    server.stop()
    run = report.Run(
        kinds, plan, results, startup, idle, after, fast, args.rounds, args.seconds, args.smoke
    )
    text = report.render(run)
    print(text)
    if args.out:
        args.out.write_text(text)
    elapsed = f"{time.perf_counter() - started_at:.0f} s"
    print(f"({elapsed}; server logs in {logs})" if args.keep_logs else f"({elapsed})")
    if not args.keep_logs:
        shutil.rmtree(logs, ignore_errors=True)
    failures = report.error_failures(results)
    if failures:
        print("ERRORS in: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0


def with_connections(scenario: Scenario, connections: int) -> Scenario:
    """The scenario with `connections` wrk connections (0: its own number)."""
    return dataclasses.replace(scenario, connections=connections) if connections else scenario


def make_servers(
    kind: str,
    env: dict[str, str],
    logs: Path,
    *,
    smoke: bool,
    variant: dict[str, str],
    bin_dir: Path,
) -> dict[Key, Server]:
    """The servers of one kind, each on its own port from FIRST_PORT on. `smoke` starts
    fewer (each start costs a second or two of CPU): only the service, the baselines being
    started under the last kind."""
    servers = {}
    port = FIRST_PORT
    roles = {APP: ROLE_ENV[APP], APP_VARIANT: variant} if variant else ROLE_ENV
    for role, role_env in roles.items():
        target = ROLE_TARGETS[APP] if role == APP_VARIANT else ROLE_TARGETS[role]
        if smoke and role not in SMOKE_ROLES_EVERY_KIND:
            continue
        spec = ServerSpec(f"{kind}-{role}", target, kind, role_env)
        servers[kind, role] = Server(spec, port, env, logs, bin_dir)
        port += 1
    return servers


def run_rounds(
    args: argparse.Namespace,
    wrk: str,
    kinds: list[str],
    plan: list[list[Scenario]],
    servers: dict[Key, Server],
) -> report.Results:
    """A warm-up, then the rounds: each group back to back, in reverse every other round."""
    if not args.smoke:
        print("warming up", flush=True)
        for kind in kinds:
            for scenario in (s for group in plan for s in group):
                server = servers[kind, scenario.role]
                run_wrk(
                    wrk, server.port, scenario.request, seconds=1, connections=scenario.connections
                )
    results: report.Results = defaultdict(list)
    for round_number in range(args.rounds):
        print(f"round {round_number + 1}/{args.rounds}", flush=True)
        for kind in kinds:
            for group in plan:
                order = group if round_number % 2 == 0 else list(reversed(group))
                for scenario in order:
                    if (kind, scenario.role) not in servers:
                        continue
                    server = servers[kind, scenario.role]
                    results[kind, scenario.name].append(measure(server, scenario, wrk, args))
    return results


def run_profile(
    *,
    args: argparse.Namespace,
    wrk: str,
    servers: dict[Key, Server],
    fixture: Fixture,
    kind: str,
    logs: Path,
) -> int:
    from bench.profile import record

    matches = [s for g in groups(fixture) for s in g if args.profile in s.name]
    if not matches:
        raise SystemExit(f"no scenario matches {args.profile!r}")
    scenario = matches[0]
    server = servers[kind, scenario.role]
    run_wrk(wrk, server.port, scenario.request, seconds=2, connections=scenario.connections)
    out = logs / "profile.txt"
    print(f"profiling {kind} worker {server.workers()[0]}: {scenario.name}", flush=True)
    print(
        record(
            wrk=wrk,
            port=server.port,
            pid=server.workers()[0],
            request=scenario.request,
            connections=scenario.connections,
            seconds=args.seconds,
            out=out,
        )
    )
    print(f"(collapsed stacks in {out})")
    return 0


def start_all(
    servers: dict[Key, Server], *, repeats: int, parallel: bool
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Start the servers one at a time, so start times are not inflated by each other (the
    service's own are started `repeats` times, the last start kept running); or all at once
    when only errors matter (smoke)."""
    startup: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    if parallel:
        for server in servers.values():
            server.launch()
        for key, server in servers.items():
            server.wait_ready()
            startup[key].append((server.startup_seconds, server.startup_cpu_seconds))
            server.wait_workers()
        return startup
    for key, server in servers.items():
        runs = repeats if key[1] == APP else 1
        for attempt in range(runs):
            server.start()
            startup[key].append((server.startup_seconds, server.startup_cpu_seconds))
            server.wait_workers()
            server.settle()
            if attempt < runs - 1:
                server.stop()
    return startup
