"""A real gunicorn with two workers on 127.0.0.1: metrics summed over workers, one JSON
access line per request in the saved files, and SIGTERM finishing an in-flight request and
disposing each worker's database pool."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import WRITE_EVERY_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    """A port nobody listens on now: parallel runs (other checkouts, CI) never collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


PORT = _free_port()
BASE_URL = f"http://127.0.0.1:{PORT}"
WORKERS = 2


def _start(
    database_url: str, tmp_path: Path, workers: int = WORKERS, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
    env.update(
        PORT=str(PORT),
        WORKERS=str(workers),
        DATABASE_URL=database_url,
        SAVE="true",
        JSON_LOG="true",
        LOG_SAVE_PATH=str(tmp_path / "logs"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        GRACEFUL_TIMEOUT="10",
        RATE_LIMIT_ENABLED="false",
        **settings,
    )
    output = (tmp_path / "gunicorn.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "tests.core.serving_app:app"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:  # the test failed half-way: stop what we started
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)
        output.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _start(database_url, tmp_path)


def worker_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def wait_ready(
    http: httpx.AsyncClient, process: subprocess.Popen[bytes], workers: int = WORKERS
) -> int:
    """Poll until every worker serves; returns how many responses that took."""
    answered = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited during start"
        try:
            response = await http.get("/health/live")
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        answered += 1
        if response.status_code == 200 and len(worker_pids(process.pid)) == workers:
            return answered
        await asyncio.sleep(0.2)
    raise AssertionError("gunicorn did not start in time")


def requests_total(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    )


async def test_gunicorn_counts_logs_and_stops_gracefully(
    server: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    limits = httpx.Limits(max_keepalive_connections=0)  # new connections: spread over workers
    async with httpx.AsyncClient(base_url=BASE_URL, timeout=20, limits=limits) as http:
        answered = await wait_ready(http, server)
        for _ in range(20):  # until both workers have answered (each keeps its own file)
            responses = await asyncio.gather(*(http.get("/api/v1/version") for _ in range(20)))
            assert {r.status_code for r in responses} == {200}
            answered += len(responses)
            if len(list((tmp_path / "metrics").glob("counter_*.db"))) >= WORKERS:
                break
        # Summed over both workers. The worker that does not answer the scrape writes its
        # tally within WRITE_EVERY_SECONDS of its last answer: a scrape may come before that.
        counted = -1.0
        for _ in range(50):
            scrape = await http.get("/metrics")
            counted = requests_total(scrape.text)
            answered += 1  # this scrape, for the next one to count
            if counted == answered - 1:
                break
            await asyncio.sleep(4 * WRITE_EVERY_SECONDS)
        assert counted == answered - 1

        slow = asyncio.create_task(http.get("/slow", params={"seconds": 2}))
        await asyncio.sleep(0.5)
        os.kill(server.pid, signal.SIGTERM)
        response = await slow  # in flight at SIGTERM: still answered
        assert response.status_code == 200
        answered += 1
    assert server.wait(20) == 0

    lines = [
        line
        for path in (tmp_path / "logs").rglob("*.log")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    records = [json.loads(line) for line in lines]  # every line is JSON
    access = [r for r in records if r.get("kind") == "access"]
    assert len(access) == answered
    assert len({r["process"] for r in access}) == WORKERS
    disposed = [r for r in records if "database pool disposed" in r["message"]]
    assert len(disposed) == WORKERS


@pytest.fixture
def recycling_server(database_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _start(database_url, tmp_path, MAX_REQUESTS="20", MAX_REQUESTS_JITTER="5")


async def test_recycling_costs_keep_alive_clients_no_request(
    recycling_server: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """Workers recycle every ~20 requests under 8 keep-alive clients; with no retry at all,
    not one request may meet a closed connection (the draining shutdown's job)."""
    async with httpx.AsyncClient(base_url=BASE_URL, timeout=20) as http:
        await wait_ready(http, recycling_server)
    errors: list[str] = []
    statuses: list[int] = []

    output = tmp_path / "gunicorn.out"

    def recycles() -> int:
        return output.read_text(encoding="utf-8").count("Maximum request limit")

    async def client() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=BASE_URL, timeout=20, limits=limits) as http:
            for _ in range(400):  # bounded; ends once workers have recycled a few times
                try:
                    statuses.append((await http.get("/api/v1/version")).status_code)
                except httpx.TransportError as error:
                    errors.append(repr(error))
                if len(statuses) % 20 == 0 and recycles() >= 4:
                    return

    await asyncio.gather(*(client() for _ in range(8)))
    os.kill(recycling_server.pid, signal.SIGTERM)
    assert recycling_server.wait(20) == 0
    assert errors == []
    assert statuses == [200] * len(statuses)
    assert recycles() >= 4  # every worker recycled, more than once


@pytest.fixture
def lone_recycling_server(database_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _start(database_url, tmp_path, workers=1, MAX_REQUESTS="10", MAX_REQUESTS_JITTER="0")


async def test_a_recycling_worker_keeps_accepting_so_sigterm_loses_nothing(
    lone_recycling_server: subprocess.Popen[bytes],
) -> None:
    """The only worker is recycling: its replacement starts only once it has exited. If it
    stopped listening at once, a new connection would wait in the listen queue with no process
    to accept it, and the SIGTERM that follows would reset it. It keeps accepting while it
    drains, so the request is answered."""
    async with httpx.AsyncClient(base_url=BASE_URL, timeout=20) as http:
        await wait_ready(http, lone_recycling_server, workers=1)
        for _ in range(100):  # one kept-alive connection, until the worker starts draining
            response = await http.get("/api/v1/version")
            assert response.status_code == 200
            if response.headers.get("connection") == "close":
                break
            await asyncio.sleep(0.05)  # uvicorn looks at its request count every 0.1 s
        else:
            raise AssertionError("the worker never began to recycle")
    draining = worker_pids(lone_recycling_server.pid)

    async with httpx.AsyncClient(base_url=BASE_URL, timeout=20) as fresh:
        request = asyncio.create_task(fresh.get("/api/v1/version"))
        await asyncio.sleep(0.2)
        os.kill(lone_recycling_server.pid, signal.SIGTERM)
        response = await request
    assert response.status_code == 200
    assert worker_pids(lone_recycling_server.pid) in (draining, [])  # no replacement answered
    assert lone_recycling_server.wait(20) == 0
