"""A real gunicorn with two workers on 127.0.0.1: metrics summed over workers, one JSON
access line per request in the saved files, and SIGTERM finishing an in-flight request and
disposing each worker's database pool."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import READY_TIMEOUT, Server, start_server

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2


def _start(
    database_url: str,
    tmp_path: Path,
    workers: int = WORKERS,
    app: str = "tests.core.serving_app:app",
    **settings: str,
) -> Iterator[Server]:
    """gunicorn on a free port serving `app`, yielded once every worker serves /health/live."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
        env.pop("FORWARDED_ALLOW_IPS", None)  # the default unless a test sets it
        env.update(
            PORT=str(port),
            WORKERS=str(workers),
            DATABASE_URL=database_url,
            SAVE="true",
            JSON_LOG="true",
            LOG_SAVE_PATH=str(tmp_path / "logs"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            GRACEFUL_TIMEOUT="10",
            RATE_LIMIT_ENABLED="false",
        )
        env.update(settings)
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], env

    def every_worker_serves(server: Server, response: httpx.Response) -> bool:
        return response.status_code == 200 and len(server.workers()) == workers

    server = start_server(
        command,
        cwd=ROOT,
        output=tmp_path / "gunicorn.out",
        health="/health/live",
        is_ready=every_worker_serves,
        new_session=True,
    )
    try:
        yield server
    finally:
        server.stop()  # when the test failed half-way


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _start(database_url, tmp_path)


async def until(condition: Callable[[], bool], request: asyncio.Task[httpx.Response]) -> None:
    """Wait, however long a loaded machine takes, until `condition` holds; fail at once if
    the request it waits for has ended first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not condition():
        if request.done():
            raise AssertionError(f"the request ended first: {request.result()}")
        assert time.monotonic() < deadline, f"not within {READY_TIMEOUT:.0f} s"
        await asyncio.sleep(0.01)


def requests_total(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    )


async def test_gunicorn_counts_logs_and_stops_gracefully(server: Server, tmp_path: Path) -> None:
    limits = httpx.Limits(max_keepalive_connections=0)  # new connections: spread over workers
    async with httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as http:
        answered = server.answered  # the readiness polls
        for _ in range(20):  # until both workers have answered (each keeps its own file)
            responses = await asyncio.gather(*(http.get("/api/v1/version") for _ in range(20)))
            assert {r.status_code for r in responses} == {200}
            answered += len(responses)
            if len(_access_processes(tmp_path)) >= WORKERS:
                break
        # Summed over both workers. A worker counts an answer right after its last send, so
        # a scrape that races that moment on the other worker may be a moment early.
        counted = -1.0
        for _ in range(20):
            counted = requests_total((await http.get("/metrics")).text)
            answered += 1  # this scrape, for the next one to count
            if counted == answered - 1:
                break
            await asyncio.sleep(0.01)
        assert counted == answered - 1

        started = tmp_path / "slow-started"
        slow = asyncio.create_task(
            http.get("/slow", params={"seconds": 2, "started": str(started)})
        )
        await until(started.exists, slow)
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
def recycling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _start(database_url, tmp_path, MAX_REQUESTS="20", MAX_REQUESTS_JITTER="5")


async def test_recycling_costs_keep_alive_clients_no_request(
    recycling_server: Server, tmp_path: Path
) -> None:
    """Workers recycle every ~20 requests under 8 keep-alive clients; with no retry at all,
    not one request may meet a closed connection (the draining shutdown's job)."""
    errors: list[str] = []
    statuses: list[int] = []

    output = tmp_path / "gunicorn.out"

    def recycles() -> int:
        return output.read_text(encoding="utf-8").count("Maximum request limit")

    async def client() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            base_url=recycling_server.url, timeout=20, limits=limits
        ) as http:
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
def lone_recycling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _start(database_url, tmp_path, workers=1, MAX_REQUESTS="10", MAX_REQUESTS_JITTER="0")


async def test_a_recycling_worker_keeps_accepting_so_sigterm_loses_nothing(
    lone_recycling_server: Server,
) -> None:
    """The only worker is recycling: its replacement starts only once it has exited. If it
    stopped listening at once, a new connection would wait in the listen queue with no process
    to accept it, and the SIGTERM that follows would reset it. It keeps accepting while it
    drains, so the request is answered."""
    async with httpx.AsyncClient(base_url=lone_recycling_server.url, timeout=20) as http:
        for _ in range(100):  # one kept-alive connection, until the worker starts draining
            response = await http.get("/api/v1/version")
            assert response.status_code == 200
            if response.headers.get("connection") == "close":
                break
            await asyncio.sleep(0.05)  # uvicorn looks at its request count every 0.1 s
        else:
            raise AssertionError("the worker never began to recycle")
    draining = lone_recycling_server.workers()

    sent: list[str] = []

    async def trace(event: str, _info: dict[str, object]) -> None:
        sent.append(event)

    async with httpx.AsyncClient(base_url=lone_recycling_server.url, timeout=20) as fresh:
        request = asyncio.create_task(fresh.get("/api/v1/version", extensions={"trace": trace}))
        # The new connection is open and holds the request (accepted or still queued).
        await until(lambda: "http11.send_request_body.complete" in sent, request)
        os.kill(lone_recycling_server.pid, signal.SIGTERM)
        response = await request
    assert response.status_code == 200
    assert lone_recycling_server.workers() in (draining, [])  # no replacement answered
    assert lone_recycling_server.wait(20) == 0


@pytest.mark.parametrize(("trusted", "limited"), [(None, True), ("127.0.0.1", False)])
async def test_forwarded_for_picks_no_rate_limit_bucket_unless_the_proxy_is_trusted(
    database_url: str, tmp_path: Path, trusted: str | None, limited: bool
) -> None:
    """By default a direct client's X-Forwarded-For is ignored: a new value per request does
    not buy a new bucket. From a proxy in FORWARDED_ALLOW_IPS it names the client."""
    settings = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_DEFAULT": "3/minute"}
    if trusted is not None:
        settings["FORWARDED_ALLOW_IPS"] = trusted
    for server in _start(database_url, tmp_path, workers=1, **settings):
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            statuses = [
                (
                    await http.get("/api/v1/version", headers={"X-Forwarded-For": f"10.9.0.{n}"})
                ).status_code
                for n in range(4)
            ]
        server.stop()
    assert statuses == ([200, 200, 200, 429] if limited else [200, 200, 200, 200])


def _access_processes(tmp_path: Path) -> set[int]:
    """The workers whose access lines have reached the saved log so far (a worker's metric
    files appear at its start, before it answers anything)."""
    found: set[int] = set()
    for path in (tmp_path / "logs").rglob("*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if '"access"' in line:
                try:
                    record = json.loads(line)
                except ValueError:  # a line the master is writing right now
                    continue
                if record.get("kind") == "access":
                    found.add(int(record["process"]))
    return found
