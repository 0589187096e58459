"""Load-and-kill check of background jobs: exports through gunicorn, workers killed mid-run.

gunicorn (2 workers) on a throwaway PostgreSQL database takes `--jobs` export requests
(`POST /api/v1/items/exports`, each with its own `Idempotency-Key`; one in ten sent twice, as
a client retrying) from `--clients` concurrent clients on 127.0.0.1. Two job workers take the
jobs from Redis; one is SIGKILLed once jobs are flowing and started again a little later.
Then, within `--budget` seconds of the start, every committed job must be done exactly once
in effect:

- each accepted key names one job, and a retried key the same job (same Location);
- the jobs table holds exactly the accepted jobs (no lost one, no extra one), all `done`,
  each with the export of its owner's items;
- both workers stop on SIGTERM with exit status 0 (drained).

    python scripts/jobscheck.py --database-server postgresql+asyncpg://postgres@127.0.0.1/test

It starts gunicorn, the job workers and a throwaway database, and ends and drops exactly
those (Redis keys: one queue named for this run). Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import dbutil  # noqa: E402
from tests.servers import Server, ServerStartError, start_server  # noqa: E402

HOST = "127.0.0.1"
PASSWORD = "jobscheck-password-123"  # noqa: S105
USERS = 4
ITEMS_PER_USER = 5
RETRY_SHARE = 0.1
ATTEMPTS = 20
# Shed load, or the first request with this key still being answered (with Retry-After).
RETRYABLE = frozenset({409, 503})
EXPORTS = "/api/v1/items/exports"
BY_STATUS = "SELECT status, count(*) FROM jobs WHERE task = 'items.export' GROUP BY status"


@dataclass
class Tally:
    accepted: dict[str, int] = field(default_factory=dict)  # key -> job id
    owners: dict[int, int] = field(default_factory=dict)  # job id -> owner index
    replays_differing: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    sent: int = 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-server", required=True, help="postgresql+asyncpg://...")
    parser.add_argument(
        "--redis", default=os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--budget", type=float, default=160.0, help="seconds for the whole run; fails past it"
    )
    return parser.parse_args()


def base_env(database_url: str, redis_url: str, code: str, work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
    env.update(
        {
            "HOST": HOST,
            "DATABASE_URL": database_url,
            "JOBS_BROKER_URL": redis_url,
            "SERVICE_CODE": code,  # names this run's queue in Redis
            "STATUS": "dev",
            "LEVEL": "INFO",
            "ACCESS_LOG": "false",
            "RATE_LIMIT_ENABLED": "false",
            "OPEN_REGISTRATION": "true",
            # A PostgreSQL shared with other work: 2 API workers + 3 job workers, 3 each.
            "DB_POOL_SIZE": "3",
            "JOBS_CONCURRENCY": "4",
            "DB_POOL_TIMEOUT": "30",
            "HEALTH_TIMEOUT": "15",
            "JOBS_LEASE_SECONDS": "3",
            "JOBS_POLL_SECONDS": "0.2",
            "JOBS_DRAIN_SECONDS": "10",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        }
    )
    return env


def start_gunicorn(env: dict[str, str], work: Path) -> Server:
    def command(port: int) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        return argv, {**env, "PORT": str(port), "WORKERS": "2", "GRACEFUL_TIMEOUT": "10"}

    def every_worker_ready(server: Server, response: httpx.Response) -> bool:
        return response.status_code == 200 and len(server.workers()) >= 2

    (work / "metrics").mkdir(exist_ok=True)
    return start_server(
        command, cwd=ROOT, output=work / "gunicorn.out", is_ready=every_worker_ready,
        new_session=True,
    )  # fmt: skip


def start_worker(env: dict[str, str], work: Path, name: str) -> Server:
    def command(port: int) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-m", "app.worker"], {**env, "JOBS_METRICS_PORT": str(port)}

    return start_server(command, cwd=ROOT, output=work / f"{name}.out", health="/metrics")


async def sign_up(http: httpx.AsyncClient) -> list[dict[str, str]]:
    """Users with a few items each, through the API; their bearer headers."""
    headers = []
    for number in range(USERS):
        email = f"jobscheck{number}@example.com"
        body = {"email": email, "password": PASSWORD, "full_name": f"Jobs {number}"}
        (await http.post("/api/v1/users", json=body)).raise_for_status()
        login = {"username": email, "password": PASSWORD}
        token = (await http.post("/api/v1/auth/token", data=login)).raise_for_status()
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for item in range(ITEMS_PER_USER + number):  # a different count per user
            created = await http.post("/api/v1/items", json={"title": f"i{item}"}, headers=bearer)
            created.raise_for_status()
        headers.append(bearer)
    return headers


async def post_until_answered(
    http: httpx.AsyncClient, tally: Tally, headers: dict[str, str]
) -> httpx.Response | None:
    """POST with the same key until a final answer: a 503 (the server shed load), a 409 (the
    key's first request still being answered) or a lost connection is retried, as a client
    holding an Idempotency-Key may."""
    for _ in range(ATTEMPTS):
        tally.sent += 1
        try:
            answer = await http.post(EXPORTS, headers=headers)
        except httpx.TransportError as error:
            tally.retried[f"transport: {type(error).__name__}"] += 1
        else:
            if answer.status_code not in RETRYABLE:
                return answer
            tally.retried[f"status {answer.status_code}"] += 1
        await asyncio.sleep(0.2)
    return None


async def export(http: httpx.AsyncClient, tally: Tally, owner: int, bearer: dict[str, str]) -> None:
    """One export; one in ten sent again once answered (a client unsure it arrived)."""
    key = secrets.token_hex(8)
    for attempt in range(2 if random.random() < RETRY_SHARE else 1):
        answer = await post_until_answered(http, tally, {**bearer, "Idempotency-Key": key})
        if answer is None or answer.status_code != 202:
            tally.failures["no answer" if answer is None else f"status {answer.status_code}"] += 1
            continue
        job_id = int(answer.headers["location"].rsplit("/", 1)[1])
        if attempt and tally.accepted.get(key, job_id) != job_id:
            tally.replays_differing.append(key)
        tally.accepted.setdefault(key, job_id)
        tally.owners[job_id] = owner


async def drive(
    base_url: str, args: argparse.Namespace, tally: Tally, progress: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        bearers = await sign_up(http)
        todo = iter(range(args.jobs))

        async def client() -> None:
            for number in todo:
                owner = number % USERS
                await export(http, tally, owner, bearers[owner])
                if number >= args.jobs // 4:
                    progress.set()

        await asyncio.gather(*(client() for _ in range(args.clients)))


async def kill_and_restart(
    victim: Server, env: dict[str, str], work: Path, progress: asyncio.Event
) -> Server:
    """SIGKILL a worker once a quarter of the requests are in, start a new one 2 s later."""
    await progress.wait()
    victim.signal(signal.SIGKILL)
    await asyncio.to_thread(victim.wait, 10)
    print(f"killed job worker {victim.pid} (exit {victim.process.returncode})")
    await asyncio.sleep(2)
    return await asyncio.to_thread(start_worker, env, work, "restarted")


async def settled(database_url: str, expected: int, seconds: float) -> dict[str, int]:
    """Wait until no export job is queued or running; the jobs by status."""
    engine = create_async_engine(database_url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                async with engine.connect() as connection:
                    rows = await connection.execute(text(BY_STATUS))
                    by_status = {status: int(count) for status, count in rows}
            except DBAPIError as error:  # a PostgreSQL shared with others may be full a while
                print(f"cannot count jobs yet: {error.orig!r}")
                by_status = {"unknown": 0, "queued": 1}
            pending = by_status.get("queued", 0) + by_status.get("running", 0)
            if (
                pending == 0 and sum(by_status.values()) >= expected
            ) or time.monotonic() > deadline:
                return by_status
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


async def check_rows(database_url: str, tally: Tally) -> list[str]:
    """Every accepted job exactly once, done, with its owner's whole export."""
    problems = []
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            jobs = (
                await connection.execute(
                    text(
                        "SELECT id, status, attempts, result FROM jobs WHERE task = 'items.export'"
                    )
                )
            ).all()
            keys = await connection.scalar(text("SELECT count(*) FROM idempotency_keys"))
    finally:
        await engine.dispose()
    found = {row.id: row for row in jobs}
    accepted = set(tally.accepted.values())
    if set(found) != accepted:
        problems.append(
            f"jobs table vs accepted: {len(set(found) - accepted)} extra, "
            f"{len(accepted - set(found))} missing"
        )
    if len(accepted) != len(tally.accepted):
        problems.append("two keys share a job")
    if keys != len(tally.accepted):
        problems.append(f"{keys} idempotency keys stored for {len(tally.accepted)} accepted")
    for job_id in accepted & set(found):
        row = found[job_id]
        expected = ITEMS_PER_USER + tally.owners[job_id]
        if row.status != "done" or row.result is None or row.result["count"] != expected:
            problems.append(f"job {job_id}: {row.status}, result {str(row.result)[:80]}")
    retried = sum(1 for row in jobs if row.attempts > 1)
    print(f"jobs: {len(jobs)}, {retried} needed more than one attempt (the killed worker's)")
    return problems


async def run(args: argparse.Namespace, database_url: str, work: Path) -> bool:
    code = f"jc{secrets.token_hex(4)}"
    env = base_env(database_url, args.redis, code, work)
    started = time.monotonic()
    api = await asyncio.to_thread(start_gunicorn, env, work)
    workers = [await asyncio.to_thread(start_worker, env, work, name) for name in ("one", "two")]
    tally = Tally()
    progress = asyncio.Event()
    try:
        load = asyncio.create_task(drive(api.url, args, tally, progress))
        restarted = await kill_and_restart(workers[0], env, work, progress)
        workers.append(restarted)
        await load
        seconds = time.monotonic() - started
        print(
            f"load: {tally.sent} requests, {len(tally.accepted)} jobs accepted in {seconds:.1f} s"
        )
        left = max(args.budget - (time.monotonic() - started), 5.0)
        by_status = await settled(database_url, len(tally.accepted), left)
        print(f"settled at {time.monotonic() - started:.1f} s: {by_status}")
        problems = await check_rows(database_url, tally)
    finally:
        exits = {}
        for worker in workers[1:]:
            worker.signal(signal.SIGTERM)
            exits[worker.pid] = await asyncio.to_thread(worker.wait, 30)
            worker.stop()
        api.stop()
    if tally.failures:
        problems.append(f"requests failed: {dict(tally.failures)}")
    if tally.replays_differing:
        problems.append(f"{len(tally.replays_differing)} retried keys named another job")
    if len(tally.accepted) < args.jobs:
        problems.append(f"only {len(tally.accepted)} of {args.jobs} exports accepted")
    if any(code != 0 for code in exits.values()):
        problems.append(f"workers did not drain cleanly on SIGTERM: {exits}")
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{'OK' if not problems else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return not problems


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="jobscheck-") as folder:
        work = Path(folder)
        with dbutil.throwaway_database(args.database_server, work) as url:
            dbutil.upgrade(url)
            try:
                ok = asyncio.run(run(args, url, work))
            except ServerStartError as error:
                raise SystemExit(f"a server did not start: {error}") from None
            if not ok:
                for log in sorted(work.glob("*.out")):
                    lines = log.read_text(errors="replace").splitlines()
                    worst = [line for line in lines if "WARNING" in line or "ERROR" in line]
                    print(f"--- {log.name}: warnings and errors", *worst[:20], sep="\n")
                    print(f"--- {log.name}: last lines", *lines[-5:], sep="\n")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
