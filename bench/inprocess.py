"""CPU per request of the service and the bare baseline in one process, with no server and no
load generator: each request is an ASGI call, timed by `time.process_time`, so other work on
a shared machine moves the numbers far less than it moves `make bench`.

    python -m bench.inprocess [--requests 3000] [--set KEY=VALUE ...]

Uses a throwaway PostgreSQL database (`--database`, the machine's by default). What it counts
is this process only: the app, SQLAlchemy and asyncpg, not PostgreSQL's CPU and not the
HTTP server's. `--set` changes one of the service's settings (e.g. `ACCESS_LOG=false`) to
see what a part of the stack costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from starlette.types import ASGIApp, Message, Scope

from app.core.config import Settings
from app.core.logging import setup_logging
from app.main import create_app
from bench.baselines import bare_db
from bench.database import DEFAULT_SERVER, throwaway_database
from bench.scenarios import API, BENCH_EMAIL, BENCH_PASSWORD

WARM_UP = 200
ROUNDS = 3


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.partition("?")[0],
        "raw_path": path.partition("?")[0].encode(),
        "query_string": path.partition("?")[2].encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def caller(
    app: ASGIApp, method: str, path: str, *, token: str = "", body: bytes = b""
) -> Callable[[], Awaitable[None]]:
    """One request to `app` per call; fails on an answer that is not 2xx."""
    headers = [(b"content-type", b"application/json")] if body else []
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def call() -> None:
        status = 0

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(_scope(method, path, headers), receive, send)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} answered {status}")

    return call


async def cpu_per_request(call: Callable[[], Awaitable[None]], requests: int) -> float:
    """Microseconds of this process's CPU per call, the best of ROUNDS after a warm-up."""
    for _ in range(WARM_UP):
        await call()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(requests):
            await call()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


async def _fixture(app: ASGIApp) -> tuple[str, int, int]:
    """Sign up and log in through the API; (token, an item's id, the owner's id)."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:
        account = {"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "full_name": "Bench"}
        owner_id = (await client.post(f"{API}/users", json=account)).json()["id"]
        form = {"username": BENCH_EMAIL, "password": BENCH_PASSWORD}
        token = (await client.post(f"{API}/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        item_id = 0
        for number in range(25):
            made = await client.post(f"{API}/items", json={"title": f"{number}"}, headers=headers)
            item_id = item_id or made.json()["id"]
    return token, item_id, owner_id


async def measure(settings: Settings, requests: int) -> dict[str, Any]:
    """CPU per request of read, list and create, the service's beside the bare baseline's."""
    os.environ["DATABASE_URL"] = settings.DATABASE_URL  # the bare baseline reads it
    service = create_app(settings, configure_logging=False)
    create = json.dumps({"title": "bench item", "description": "made by the benchmark"}).encode()
    results: dict[str, Any] = {}
    async with LifespanManager(service), LifespanManager(bare_db.app):
        token, item_id, owner_id = await _fixture(service)
        pairs = {
            "read": (
                caller(service, "GET", f"{API}/items/{item_id}", token=token),
                caller(bare_db.app, "GET", f"/items/{item_id}"),
            ),
            "list of 20": (
                caller(service, "GET", f"{API}/items?limit=20", token=token),
                caller(bare_db.app, "GET", f"/items?limit=20&owner_id={owner_id}"),
            ),
            "create": (
                caller(service, "POST", f"{API}/items", token=token, body=create),
                caller(bare_db.app, "POST", f"/items?owner_id={owner_id}", body=create),
            ),
        }
        for name, (ours, bare) in pairs.items():
            service_us = await cpu_per_request(ours, requests)
            bare_us = await cpu_per_request(bare, requests)
            results[name] = {
                "service_us": round(service_us, 1),
                "bare_us": round(bare_us, 1),
                "ratio": round(service_us / bare_us, 2),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database", default=DEFAULT_SERVER)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    changes = dict(change.split("=", 1) for change in args.set)
    with throwaway_database(args.database) as url, open(os.devnull, "w") as discard:
        settings = Settings(DATABASE_URL=url, RATE_LIMIT_ENABLED=False, JSON_LOG=True, **changes)
        setup_logging(settings, stream=discard)  # formatted and written, like a server's lines
        results = asyncio.run(measure(settings, args.requests))
    print(f"| request | service µs | bare µs | ratio |  ({args.requests} requests, {changes})")
    print("|---|---:|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['service_us']} | {row['bare_us']} | {row['ratio']}x |")


if __name__ == "__main__":
    main()
