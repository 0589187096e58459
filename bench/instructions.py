"""Instructions per `/health/live` request, counted by valgrind: a number that does not move
with the machine's load, for changes too small for the timed benchmark to resolve.

    python -m bench.instructions [--requests 2400] [--parts]

Each app runs in-process (no server, no sockets): 16 concurrent callers send ASGI requests
straight to it on uvloop, the way a server's connections would. The count of a run with
`--requests` more requests, minus that of a short run, divided by the difference, is what one
request costs; start-up and shut-down cancel out. Counts include the timers' work (access
lines, metrics), but under valgrind a request takes ~50x longer, so those batch fewer
requests than they would at full speed. Needs `valgrind` (Debian package `valgrind`).

`--parts` also counts the service with one part of its stack switched off at a time (the
access line, the metrics, the request limits, the security headers, all of our middleware):
what a part costs is the full count minus that one.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALLERS = 16
SHORT_RUN = 800
TARGETS = {
    "bare route": "bench.baselines.bare_route:app",
    "bare route, FastAPI defaults": "bench.baselines.bare_route:default_app",
    "service (full stack)": "app.main:app",
}
# The benchmark's service settings (bench/run.py base_env); /health/live reads no database,
# so a SQLite file stands in for PostgreSQL (`database_env`).
SERVICE_ENV = {
    "STATUS": "prod",
    "ALLOW_SQLITE_IN_PROD": "true",
    "SECRET_KEY": "bench-instructions-" + "k" * 48,
    "FIRST_SUPERUSER_PASSWORD": "bench-instructions-password",
    "JSON_LOG": "true",
    "LEVEL": "INFO",
    "ACCESS_LOG": "true",
    "SAVE": "false",
    "RATE_LIMIT_ENABLED": "false",
    "PYTHONHASHSEED": "0",
}
SERVICE = "service (full stack)"
# Each part of the stack, and the settings that switch it off; the rest are switched off by
# `_service_without` (no setting turns them off in the service).
PARTS: dict[str, dict[str, str]] = {
    "access line": {"ACCESS_LOG": "false"},
    "metrics": {"METRICS_ENABLED": "false"},
    "request limits": {},
    "security headers": {},
    "all of our middleware": {},
}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def database_env(folder: Path) -> dict[str, str]:
    """A SQLite database of its own for one run, in `folder`."""
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"}


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/health/live",
        "raw_path": b"/health/live",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "state": {},
    }


async def _serve(app: Any, requests: int) -> None:
    """Start the app's lifespan, send `requests` requests from CALLERS callers, check them."""
    started = asyncio.Event()

    async def lifespan_receive() -> dict[str, Any]:
        if not started.is_set():
            started.set()
            return {"type": "lifespan.startup"}
        await asyncio.Event().wait()  # never shut down: the process exits instead
        return {}

    async def lifespan_send(message: dict[str, Any]) -> None:
        return None

    lifespan = asyncio.ensure_future(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            lifespan_receive,
            lifespan_send,
        )
    )
    await asyncio.sleep(0.3)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def caller(count: int) -> None:
        for _ in range(count):
            await app(_scope(), receive, send)
            await asyncio.sleep(0)  # a server reads the next request on a later loop turn

    await asyncio.gather(*(caller(requests // CALLERS) for _ in range(CALLERS)))
    await asyncio.sleep(0.1)  # the access-line and metrics timers run
    if set(statuses) != {200} or len(statuses) != requests // CALLERS * CALLERS:
        raise SystemExit(f"unexpected answers: {sorted(set(statuses))}, {len(statuses)}")
    lifespan.cancel()


def _service_without(part: str) -> Any:
    """The service's app with one part of its stack switched off."""
    os.environ.update(PARTS[part])
    from fastapi import FastAPI

    from app import main

    if part == "request limits":
        main.RequestLimitsMiddleware = lambda app, **_: app  # type: ignore[assignment,misc]
    elif part == "security headers":
        main.SecurityHeaders.for_path = lambda self, path: ()  # type: ignore[method-assign]
    elif part == "all of our middleware":
        main.ServiceApp.build_middleware_stack = FastAPI.build_middleware_stack  # type: ignore[method-assign]
    main.get_settings.cache_clear()
    return main.create_app()


def child(target: str, requests: int, without: str = "") -> None:
    import uvloop

    os.environ.update(SERVICE_ENV)
    sys.path.insert(0, str(ROOT))
    if without:
        app = _service_without(without)
    else:
        module, _, name = target.partition(":")
        app = getattr(importlib.import_module(module), name)
    uvloop.run(_serve(app, requests))
    os._exit(0)  # skip interpreter teardown: it is not part of a request


def count(valgrind: str, target: str, requests: int, without: str = "") -> int:
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        return _count(valgrind, target, requests, without, database_env(Path(folder)))


def _count(valgrind: str, target: str, requests: int, without: str, env: dict[str, str]) -> int:
    completed = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            target,
            "--requests",
            str(requests),
            *(["--without", without] if without else []),
        ],
        cwd=ROOT,
        env={**os.environ, **SERVICE_ENV, **env},
        stdout=subprocess.DEVNULL,  # the access lines
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = _COLLECTED.search(completed.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{completed.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2400, help="requests counted per app")
    parser.add_argument(
        "--parts", action="store_true", help="also count the service without each part"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--without", default="", choices=["", *PARTS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests, args.without)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")

    def per_request(target: str, without: str = "") -> float:
        short = count(valgrind, target, SHORT_RUN, without)
        long = count(valgrind, target, SHORT_RUN + args.requests, without)
        return (long - short) / args.requests

    counts = {}
    for label, target in TARGETS.items():
        counts[label] = per_request(target)
        print(f"{label}: {counts[label]:,.0f} instructions per request", flush=True)
    base = counts["bare route"]
    print("\n| app | instructions per request | vs bare route |\n|---|---:|---:|")
    for label, value in counts.items():
        print(f"| {label} | {value:,.0f} | {value / base:.3f}x |")
    if not args.parts:
        return
    full = counts[SERVICE]
    print(f"\nWhat each part costs: the service ({full:,.0f}) without it, the difference.")
    print("\n| switched off | instructions per request | the part costs |\n|---|---:|---:|")
    for part in PARTS:
        without = per_request(TARGETS[SERVICE], part)
        print(f"| {part} | {without:,.0f} | {full - without:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
