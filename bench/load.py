"""Drive a bounded load with wrk and read its results (bench/wrk/scenario.lua prints them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk") / "scenario.lua"


@dataclass(frozen=True)
class Request:
    """What every request of a scenario sends."""

    path: str
    method: str = "GET"
    body: str = ""
    content_type: str = ""
    token: str = ""
    ids: tuple[int, int] | None = None  # "{id}" in the path: a random id in this range each time


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    first_bad: str

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("wrk not found: installing it with apt-get", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def run_wrk(
    wrk: str,
    port: int,
    request: Request,
    *,
    seconds: int,
    connections: int,
    max_requests: int = 0,
) -> LoadResult:
    """One wrk thread (the other core is the server's), keep-alive connections, bounded time."""
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_BODY": request.body,
        "BENCH_CONTENT_TYPE": request.content_type,
        "BENCH_TOKEN": request.token,
        "BENCH_MAX_REQUESTS": str(max_requests),
        "BENCH_PATH": request.path,
        "BENCH_ID_LOW": str(request.ids[0] if request.ids else 0),
        "BENCH_ID_HIGH": str(request.ids[1] if request.ids else 0),
    }
    path = request.path.replace("{id}", str(request.ids[0])) if request.ids else request.path
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}{path}",
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non2xx=data["non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        first_bad=data["first_bad"],
    )
