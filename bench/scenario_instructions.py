"""Instructions per request of the API scenarios users make (an authenticated item read, a
list of 20, a create) under gunicorn on PostgreSQL, by valgrind.

    python -m bench.scenario_instructions [--scenarios read,list,create] [--short 100]
        [--long 500] [--repeat 1] [--set KEY=VALUE ...] [--bare] [--database URL] [--out FILE]

`--bare` counts the bare FastAPI + SQLAlchemy baseline (`bench/baselines/bare_db.py`) doing
the same read, list and create instead, so a ratio can be taken that no load moves.

What `bench.server_instructions` counts for `GET /health/live`, for the requests that read and
write the database. The service runs with the benchmark's settings (`bench.run.base_env`:
`STATUS=prod`, JSON access lines, `SAVE=false`, no rate limit) on a throwaway PostgreSQL
database, seeded once by a server outside valgrind (the bench user, its token, 25 items).
`--set KEY=VALUE` (repeatable) adds settings on top, to count a variant.

One gunicorn server (master and 2 workers) runs under `valgrind --tool=callgrind`, started
once (an import under valgrind takes minutes). Callgrind writes a process's counts, and zeroes
them, whenever `os.getloadavg` is called (`--dump-before=os_getloadavg`; the service never
calls it), and a `sitecustomize` on the server's `PYTHONPATH` makes a signal the service does
not use (SIGRTMIN+1) call it, in the master and, inherited, in every worker. A window of
requests is counted by signalling every process before and after it: every process counted.
For each scenario, after a warm-up (pool connections opened, the token and the account
remembered), a window of `--short` and one of `--long` keep-alive requests over 16 new
connections; (long - short) / (long - short requests) is one request's cost, what every window
costs besides its requests (the signals, the connections) cancelling out. `--repeat N` counts N
such pairs per scenario, to see the spread. The kernel's work is not counted.

Under valgrind a request takes ~50x longer, so everything that is timed rather than counted
shifts: a loop turn finds more requests ready, and the server's own timers (uvicorn's tick
every 0.1 s) run ~50x more often per request. Needs `valgrind`, PostgreSQL, and a
CPython whose `os_getloadavg` symbol valgrind can see (not stripped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.database import DEFAULT_SERVER, throwaway_database
from bench.load import Request
from bench.run import base_env
from bench.scenarios import API, Fixture
from bench.seed import seed
from bench.server_instructions import keep_alive_requests
from bench.servers import Server, ServerSpec

TARGET = "app.main:app"
BARE_TARGET = "bench.baselines.bare_db:app"
CONNECTIONS = 16
START_TIMEOUT = 600.0  # the master imports the app under valgrind: minutes
WORKER_TIMEOUT = 300.0  # a worker's start, or its dump, under valgrind: seconds
WARM_UP = 3 * CONNECTIONS  # requests before any window: every worker past its first ones
DUMP_FUNCTION = "os_getloadavg"  # CPython's C function behind os.getloadavg
REPORT_SIGNAL = signal.SIGRTMIN + 1  # no handler in gunicorn, uvicorn or the service
# Installed in the master at interpreter start-up; forked workers inherit the handler.
SITECUSTOMIZE = f"""import os, signal
signal.signal({int(REPORT_SIGNAL)}, lambda *_: os.getloadavg())
"""
CREATE_BODY = json.dumps({"title": "bench item", "description": "made by the benchmark"})
# The scenario's request and the status every answer must have
SCENARIOS: dict[str, tuple[Callable[[Fixture], Request], int]] = {
    "read": (lambda f: Request(f"{API}/items/{f.item_id}", token=f.token), 200),
    "list": (lambda f: Request(f"{API}/items?limit=20", token=f.token), 200),
    "create": (
        lambda f: Request(
            f"{API}/items",
            method="POST",
            body=CREATE_BODY,
            content_type="application/json",
            token=f.token,
        ),
        201,
    ),
}
# The bare baseline's same requests (no token: the owner is named in the query string)
BARE_SCENARIOS: dict[str, tuple[Callable[[Fixture], Request], int]] = {
    "read": (lambda f: Request(f"/items/{f.item_id}"), 200),
    "list": (lambda f: Request(f"/items?limit=20&owner_id={f.owner_id}"), 200),
    "create": (
        lambda f: Request(
            f"/items?owner_id={f.owner_id}",
            method="POST",
            body=CREATE_BODY,
            content_type="application/json",
        ),
        201,
    ),
}
# Settings on top of the benchmark's: no recycling, no timeouts while valgrind is slow
VALGRIND_ENV = {
    "GUNICORN_TIMEOUT": "600",
    "GRACEFUL_TIMEOUT": "120",
    "DB_POOL_TIMEOUT": "120",  # the most the setting allows: valgrind is slow
    "PYTHONHASHSEED": "0",
}
_TOTALS = re.compile(r"^totals:\s*(\d+)", re.MULTILINE)
_STARTED = re.compile(r'"message": "Application startup complete\.".*?"process": (\d+)')


def raw_request(request: Request) -> bytes:
    """The request as an HTTP/1.1 keep-alive message."""
    body = request.body.encode()
    lines = [f"{request.method} {request.path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: bench"]
    if request.token:
        lines.append(f"Authorization: Bearer {request.token}")
    if body:
        lines += [f"Content-Type: {request.content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _load(port: int, message: bytes, expected: int, requests: int) -> None:
    per_connection, extra = divmod(requests, CONNECTIONS)
    shares = [per_connection + (i < extra) for i in range(CONNECTIONS)]
    answered = await asyncio.gather(
        *(keep_alive_requests(port, message, n, expected) for n in shares if n)
    )
    if sum(answered) != requests:
        raise SystemExit(f"only {sum(answered)} of {requests} answered {expected}")


@dataclass
class Run:
    """One measured window: its scenario and size, and what each process executed in it."""

    scenario: str
    requests: int
    counts: dict[int, int]  # by process id

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class CountedServer:
    """A gunicorn server under callgrind, whose every process reports what it executed since
    its last report when it receives `REPORT_SIGNAL` (a dump also zeroes the counts)."""

    def __init__(
        self, valgrind: str, env: dict[str, str], work: Path, port: int, target: str = TARGET
    ) -> None:
        self.work = work
        hook = work / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
        wrap = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={work}/callgrind.%p",
            f"--log-file={work}/valgrind.%p",
            f"--dump-before={DUMP_FUNCTION}",
        ]
        path = os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH", "")) if p)
        spec = ServerSpec("gunicorn-service", target, "gunicorn", {"PYTHONPATH": path}, wrap)
        self.server = Server(spec, port, env, work)

    def start(self) -> None:
        try:
            self.server.start(timeout=START_TIMEOUT)
        except RuntimeError as error:
            raise SystemExit(f"{error}:\n{self.server.log_path.read_text()[-3000:]}") from error
        self.server.wait_workers(timeout=START_TIMEOUT)
        deadline = time.monotonic() + WORKER_TIMEOUT
        while not set(self.server.workers()) <= self._started():
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not start; see {self.server.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.server.stop(timeout=300)

    def _started(self) -> set[int]:
        return {int(pid) for pid in _STARTED.findall(self.server.log_path.read_text())}

    def _dumps(self, pid: int) -> list[Path]:
        return sorted(
            self.work.glob(f"callgrind.{pid}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1])
        )

    def report(self) -> dict[int, int]:
        """What every process executed since its last report."""
        pids = [self.server.pid, *self.server.workers()]
        before = {pid: len(self._dumps(pid)) for pid in pids}
        for pid in pids:
            os.kill(pid, REPORT_SIGNAL)
        counts: dict[int, int] = {}
        deadline = time.monotonic() + WORKER_TIMEOUT
        while len(counts) < len(pids):
            if time.monotonic() > deadline:
                raise SystemExit(f"no callgrind dump from {sorted(set(pids) - set(counts))}")
            time.sleep(0.1)
            for pid in set(pids) - set(counts):
                dumps = self._dumps(pid)
                if len(dumps) > before[pid]:
                    found = _TOTALS.search(dumps[-1].read_text())  # the dump's last line
                    if found is not None:
                        counts[pid] = int(found.group(1))
        return counts

    def measure(self, scenario: str, request: Request, expected: int, requests: int) -> Run:
        self.report()  # zero every process
        asyncio.run(_load(self.server.port, raw_request(request), expected, requests))
        return Run(scenario, requests, self.report())

    def warm_up(self, request: Request, expected: int, requests: int) -> None:
        asyncio.run(_load(self.server.port, raw_request(request), expected, requests))


def per_request(short: Run, long: Run) -> float:
    return (long.total - short.total) / (long.requests - short.requests)


def count_scenarios(
    valgrind: str,
    scenarios: list[str],
    *,
    short: int,
    long: int,
    repeat: int,
    settings: dict[str, str],
    database: str,
    port: int,
    bare: bool = False,
) -> tuple[list[Run], dict[str, list[float]]]:
    """Every run, and each scenario's instructions per request (one per `repeat`)."""
    work = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    try:
        with throwaway_database(database) as database_url:
            env = {**base_env(database_url, work), **VALGRIND_ENV, **settings}
            fixture = _seed(env, work, port)
            target, requests = (BARE_TARGET, BARE_SCENARIOS) if bare else (TARGET, SCENARIOS)
            server = CountedServer(valgrind, env, work, port, target)
            runs: list[Run] = []
            server.start()
            try:
                for name in scenarios:
                    make_request, expected = requests[name]
                    request = make_request(fixture)
                    # Pool connections opened, token and account remembered, code paths run
                    server.warm_up(request, expected, WARM_UP)
                    for _ in range(repeat):
                        for size in (short, long):
                            runs.append(server.measure(name, request, expected, size))
                            print(f"  {name}: {size} requests counted", flush=True)
            finally:
                server.stop()
    except BaseException:
        print(f"(the servers' logs and valgrind's reports are kept in {work})")
        raise
    shutil.rmtree(work, ignore_errors=True)
    results: dict[str, list[float]] = {name: [] for name in scenarios}
    for first, second in zip(runs[::2], runs[1::2], strict=True):
        results[first.scenario].append(per_request(first, second))
    return runs, results


def _seed(env: dict[str, str], work: Path, port: int) -> Fixture:
    """The bench user, its token and items, made through a server outside valgrind."""
    seeder = Server(ServerSpec("seed", TARGET, "uvicorn"), port, env, work)
    try:
        seeder.start(timeout=120)
        return seed(port)
    finally:
        seeder.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="read,list,create")
    parser.add_argument("--short", type=int, default=100, help="requests in the short run")
    parser.add_argument("--long", type=int, default=500, help="requests in the long run")
    parser.add_argument("--repeat", type=int, default=1, help="short/long pairs per scenario")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting on top"
    )
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE", DEFAULT_SERVER))
    parser.add_argument("--port", type=int, default=18490)
    parser.add_argument("--label", default="", help="a name for this configuration's rows")
    parser.add_argument("--bare", action="store_true", help="count the bare baseline instead")
    parser.add_argument("--out", type=Path, help="also append the rows (JSON lines) here")
    args = parser.parse_args()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown or args.long <= args.short:
        raise SystemExit(f"unknown scenarios {sorted(unknown)} or --long <= --short")
    settings = dict(item.split("=", 1) for item in args.set)
    # Stopped with SIGTERM: still stop the server and drop the database on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs, results = count_scenarios(
        valgrind,
        scenarios,
        short=args.short,
        long=args.long,
        repeat=args.repeat,
        settings=settings,
        database=args.database,
        port=args.port,
        bare=args.bare,
    )
    label = args.label or " ".join(args.set) or ("bare" if args.bare else "as it is")
    print(f"\n{label}: runs of {args.short} and {args.long} requests, {CONNECTIONS} connections")
    # Also every window's instructions over its requests: what a window costs besides its
    # requests is not taken out, but no window's noise is multiplied by a difference.
    print(
        "| scenario | instructions per request (long - short) | each pair | all windows |\n"
        "|---|---:|---|---:|"
    )
    for name, values in results.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        windows = [run for run in runs if run.scenario == name]
        pooled = sum(run.total for run in windows) / sum(run.requests for run in windows)
        print(f"| {name} | {sum(values) / len(values):,.0f} | {shown} | {pooled:,.0f} |")
    if args.out:
        with args.out.open("a") as out:
            for run in runs:
                row = {"label": label, **vars(run), "total": run.total}
                out.write(json.dumps(row) + "\n")
            for name, values in results.items():
                out.write(json.dumps({"label": label, "scenario": name, "per_request": values}))
                out.write("\n")


if __name__ == "__main__":
    main()
