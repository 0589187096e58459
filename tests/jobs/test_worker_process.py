"""The worker as a process on the real Redis broker: killed mid-job, stopped with SIGTERM,
started while the broker is down. Each job's effect (an item) must exist exactly once."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.jobs.models import Job
from app.core.jobs.outbox import enqueue
from app.core.logging import request_id_var
from app.items.models import Item
from tests.factories import create_user
from tests.jobs.probe_tasks import WRITE_ITEM
from tests.servers import ROOT, Server, closed_port, start_server

pytestmark = pytest.mark.redis

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
WAIT_SECONDS = 60.0
# The names alerts are written against (docs/jobs.md).
METRIC_FAMILIES = (
    "jobs_enqueued_total",
    "jobs_started_total",
    "jobs_succeeded_total",
    "jobs_failed_total",
    "jobs_retried_total",
    "jobs_queue_depth",
    "jobs_oldest_queued_age_seconds",
    "job_duration_seconds",
)

StartWorker = Callable[..., Server]


@pytest.fixture
def start_worker(database_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Worker processes on the test database and a queue of this test's own in Redis."""
    started: list[Server] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JOBS_BROKER_URL": REDIS_TEST_URL,
        "SERVICE_CODE": f"t{secrets.token_hex(6)}",  # the queue's name: one per test
        "JOBS_LEASE_SECONDS": "2",
        "JOBS_POLL_SECONDS": "0.2",
        "JOBS_DRAIN_SECONDS": "15",
        "LEVEL": "INFO",
        "JSON_LOG": "false",
    }

    def start(name: str, **overrides: str) -> Server:
        def command(port: int) -> tuple[list[str], dict[str, str]]:
            argv = [sys.executable, "-m", "app.worker", "tests.jobs.probe_tasks"]
            return argv, {**env, **overrides, "JOBS_METRICS_PORT": str(port)}

        output = tmp_path / f"{name}.log"
        server = start_server(command, cwd=ROOT, output=output, health="/metrics")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def add_job(application: FastAPI, title: str, sleep: float, request_id: str) -> int:
    owner, _ = await create_user(application)
    token = request_id_var.set(request_id)
    try:
        async with application.state.session_factory() as session, session.begin():
            payload = {"owner": owner, "title": title, "sleep": sleep}
            job = await enqueue(session, application.state.settings, WRITE_ITEM, payload)
    finally:
        request_id_var.reset(token)
    return job.id


async def job_state(application: FastAPI, job_id: int) -> tuple[str, int, int]:
    """The job's status and attempts, and how many items it wrote."""
    async with application.state.session_factory() as session:
        job = await session.get(Job, job_id, populate_existing=True)
        assert job is not None
        written = select(func.count()).select_from(Item).where(Item.description == job.key)
        return job.status, job.attempts, int(await session.scalar(written) or 0)


def wait_for_line(server: Server, text: str) -> None:
    """Wait for the worker to log `text` (on SQLite a running job holds the write lock, so
    the test cannot read its row until it ends)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while text not in server.output_text():
        assert server.is_running(), server.output_text()
        assert time.monotonic() < deadline, f"no {text!r} in:\n{server.output_text()}"
        time.sleep(0.05)


def running(worker: Server, job_id: int) -> Server:
    """The worker, once it has started job `job_id`."""
    wait_for_line(worker, f"job {job_id} ({WRITE_ITEM}) attempt 1 started")
    return worker


async def wait_for(application: FastAPI, job_id: int, status: str) -> tuple[str, int, int]:
    deadline = time.monotonic() + WAIT_SECONDS
    while (state := await job_state(application, job_id))[0] != status:
        assert time.monotonic() < deadline, f"job {job_id} not {status}: {state}"
        await asyncio.sleep(0.1)
    return state


async def test_a_worker_killed_mid_job_leaves_it_to_run_once(
    application: FastAPI, start_worker: StartWorker
) -> None:
    job_id = await add_job(application, "killed", sleep=3, request_id="req-kill-1")
    first = running(start_worker("first"), job_id)
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert (await job_state(application, job_id))[2] == 0  # its write never committed
    second = start_worker("second")
    status, attempts, written = await wait_for(application, job_id, "done")
    assert (status, attempts, written) == ("done", 2, 1)
    succeeded = f'jobs_succeeded_total{{task="{WRITE_ITEM}"}} 1.0'
    deadline = time.monotonic() + WAIT_SECONDS
    async with httpx.AsyncClient(trust_env=False) as http:
        # The job's row commits first; the worker counts the success right after.
        while succeeded not in (
            scraped := (await http.get(f"{second.url}/metrics", timeout=10)).text
        ):
            assert time.monotonic() < deadline, scraped
            await asyncio.sleep(0.1)
    for family in METRIC_FAMILIES:
        assert f"# TYPE {family} " in scraped, family
    second.stop()  # its log is complete once it has exited
    lines = second.output_text().splitlines()
    assert any(f"job {job_id} ({WRITE_ITEM}) done" in line for line in lines)
    assert any("req-kill-1" in line and f"job {job_id}" in line for line in lines)


def test_a_fresh_worker_exports_each_task_at_zero(start_worker: StartWorker) -> None:
    """Before its first job: rates and alerts over a task's counters read 0, not nothing."""
    scraped = httpx.get(f"{start_worker('fresh').url}/metrics", timeout=10).text
    for family in (*METRIC_FAMILIES[:5], "job_duration_seconds_count"):
        assert f'{family}{{task="{WRITE_ITEM}"}} 0.0' in scraped, family


async def test_sigterm_lets_the_running_job_finish(
    application: FastAPI, start_worker: StartWorker
) -> None:
    job_id = await add_job(application, "drained", sleep=2, request_id="req-drain-1")
    worker = running(start_worker("draining"), job_id)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output_text()
    assert await job_state(application, job_id) == ("done", 1, 1)
    assert "job worker stopped" in worker.output_text()


def start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A Redis of the test's own on `port`, keeping nothing on disk."""
    binary = shutil.which("redis-server")
    assert binary is not None
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    return subprocess.Popen([*argv, "no"], stdout=subprocess.DEVNULL, cwd=folder)  # noqa: S603


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
async def test_a_job_committed_while_the_broker_is_down_runs_when_it_returns(
    application: FastAPI, start_worker: StartWorker, tmp_path: Path
) -> None:
    job_id = await add_job(application, "waited", sleep=0, request_id="req-down-1")
    with closed_port() as port:
        worker = start_worker("broker-down", JOBS_BROKER_URL=f"redis://127.0.0.1:{port}/0")
        await asyncio.sleep(1.5)
        assert worker.is_running()
        assert await job_state(application, job_id) == ("queued", 0, 0)
    redis = start_redis(port, tmp_path)
    try:
        assert await wait_for(application, job_id, "done") == ("done", 1, 1)
    finally:
        worker.stop()
        redis.terminate()
        redis.wait(10)
