"""Instructions per `/health/live` request under real gunicorn and uvicorn, by valgrind.

What `bench.instructions` counts in-process, plus what the server does for each request
(HTTP parsing, the checks of every response header, the Python side of the socket writes)
and the batches its loop turns really hold.

    python -m bench.server_instructions [--kinds gunicorn,uvicorn] [--requests 2400] [--logging]

Each server runs under `valgrind --tool=callgrind`, every process of it counted (the gunicorn
master and both workers). A Python client on 127.0.0.1 sends a fixed number of keep-alive
`GET /health/live` requests over 16 connections, then the server is stopped with SIGTERM and
every process reports what it executed. A run with `--requests` more requests, minus a short
run, divided by the difference, is what one request costs: start-up and shut-down cancel out.
The kernel's work is not counted. Under valgrind a request takes ~50x longer, so a loop turn
finds more connections ready than it would at full speed, and the timers' batches (access
lines, metric writes) hold more. Needs `valgrind`.

`--logging` also counts the logging target's pair: the service with JSON access lines and
`SAVE=true` against the service with logging off (the benchmark's roles of the same names).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
from pathlib import Path

from bench.instructions import SERVICE, SERVICE_ENV, TARGETS, database_env
from bench.scenarios import APP_LOG_OFF, APP_LOG_SAVE, ROLE_ENV
from bench.servers import Server, ServerSpec

CONNECTIONS = 16
SHORT_RUN = 400
APPS = ("bare route", SERVICE)
LOG_SAVE = "service, JSON access log + SAVE"
LOG_OFF = "service, logging off"
# What each counted app runs, and with which settings on top of the benchmark's
APP_SETTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "bare route": (TARGETS["bare route"], {}),
    SERVICE: (TARGETS[SERVICE], {}),
    LOG_SAVE: (TARGETS[SERVICE], ROLE_ENV[APP_LOG_SAVE]),
    LOG_OFF: (TARGETS[SERVICE], ROLE_ENV[APP_LOG_OFF]),
}
START_TIMEOUT = 600.0  # an import under valgrind takes minutes
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_REQUEST = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"


async def keep_alive_requests(port: int, message: bytes, requests: int, expected: int = 200) -> int:
    """Send `message` `requests` times, one after another, on one keep-alive connection; the
    number answered with `expected`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    status_line = b"HTTP/1.1 %d " % expected
    good = 0
    try:
        for _ in range(requests):
            writer.write(message)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            good += head.startswith(status_line)
    finally:
        writer.close()
        await writer.wait_closed()
    return good


async def _load(port: int, requests: int) -> None:
    per_connection = requests // CONNECTIONS
    answered = await asyncio.gather(
        *(keep_alive_requests(port, _REQUEST, per_connection) for _ in range(CONNECTIONS))
    )
    if sum(answered) != per_connection * CONNECTIONS:
        raise SystemExit(f"only {sum(answered)} of {per_connection * CONNECTIONS} answered 200")


def count(valgrind: str, app: str, kind: str, requests: int, port: int) -> int:
    """Instructions executed by every process of one server that answered `requests`."""
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        work = Path(folder)
        wrapped = [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            f"--log-file={work}/valgrind.%p",
        ]
        target, settings = APP_SETTINGS[app]
        name = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{app}".lower())
        spec = ServerSpec(name, target, kind, env=settings, wrap=wrapped)
        env = {
            **SERVICE_ENV,
            **database_env(work),
            "LOG_SAVE_PATH": str(work / "saved"),
            "GUNICORN_TIMEOUT": "600",
            "GRACEFUL_TIMEOUT": "120",
        }
        server = Server(spec, port, env, work)
        try:
            server.start(timeout=START_TIMEOUT)
            server.wait_workers(timeout=START_TIMEOUT)
            asyncio.run(_load(port, requests))
        except RuntimeError as error:
            raise SystemExit(f"{error}:\n{server.log_path.read_text()[-3000:]}") from error
        finally:
            server.stop(timeout=300)
        counts = [_collected(path) for path in work.glob("valgrind.*")]
    if not counts:
        raise SystemExit(f"no instruction count from valgrind for {spec.name}")
    return sum(counts)


def _collected(path: Path) -> int:
    found = _COLLECTED.search(path.read_text())
    if found is None:
        raise SystemExit(f"{path.name} holds no count:\n{path.read_text()[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="gunicorn,uvicorn", help="servers to count under")
    parser.add_argument("--requests", type=int, default=2400, help="requests counted per app")
    parser.add_argument("--port", type=int, default=18480)
    parser.add_argument(
        "--logging", action="store_true", help="also count logging on (JSON + SAVE) and off"
    )
    args = parser.parse_args()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    apps = (*APPS, LOG_OFF, LOG_SAVE) if args.logging else APPS
    print("| server | app | instructions per request | vs its baseline |\n|---|---|---:|---:|")
    for kind in args.kinds.split(","):
        counts: dict[str, float] = {}
        for app in apps:
            short = count(valgrind, app, kind, SHORT_RUN, args.port)
            long = count(valgrind, app, kind, SHORT_RUN + args.requests, args.port)
            counts[app] = (long - short) / args.requests
            baseline = {SERVICE: APPS[0], LOG_SAVE: LOG_OFF}.get(app)
            ratio = f"{counts[app] / counts[baseline]:.3f}x" if baseline else "—"
            print(f"| {kind} | {app} | {counts[app]:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
