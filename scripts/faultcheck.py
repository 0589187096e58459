"""Fault check of the database edge: gunicorn in front of a PostgreSQL that fails under it.

It makes its own throwaway PostgreSQL cluster (initdb on a spare port, trust auth on 127.0.0.1,
run as the `postgres` OS user when started as root), migrates it, signs users in and creates
items through the API, then runs four scenarios, each against a fresh gunicorn:

- stopped:    `pg_ctl stop -m fast` under authenticated reads and writes, then start again
- frozen:     SIGSTOP to the postmaster and its backends for 20 s, then SIGCONT
- locked:     `LOCK TABLE items IN ACCESS EXCLUSIVE MODE` held past the statement timeout
- saturated:  one worker, a pool of 2, 256 concurrent connections, readiness probed meanwhile

    python scripts/faultcheck.py            # about 70 s
    python scripts/faultcheck.py --only stopped,locked

Every request is bounded by a client timeout and every scenario by requests and seconds; only
127.0.0.1 is used. It prints what each scenario saw and its expectations, PASS or FAIL, and
exits 1 with a one-line reason when any fails. It stops and removes exactly what it started
(gunicorn by its PID, the cluster by `pg_ctl stop` and then its postmaster's PID), on failure
and on SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.loadcheck import LoadCheck, read_log_lines, server_env  # noqa: E402
from tests import dbutil  # noqa: E402
from tests.servers import HOST, Server, ServerStartError, reserve_port, start_server  # noqa: E402

PG_ROOT = Path("/usr/lib/postgresql")
ITEMS_PER_USER = 3
# Settings every fault scenario's gunicorn gets on top of the load check's (scripts/
# loadcheck.py server_env): the load check's 30 s pool wait and 15 s readiness timeout suit a
# check of dropped requests; a check of how fast failures are answered wants the service's
# own defaults (docs/configuration.md) or lower.
FAULT_SETTINGS = {
    "DB_POOL_TIMEOUT": "2",
    "HEALTH_TIMEOUT": "2",
    "DB_STATEMENT_TIMEOUT_MS": "3000",
    "MAX_REQUESTS": "0",  # no recycling: a worker that changes is the fault's doing
    "MAX_REQUESTS_JITTER": "0",
}
# What a server-side statement timeout may take beyond its value to reach the client: the
# cancel, the rollback and the error answer, on a loaded 2-core machine.
STATEMENT_MARGIN = 1.0
# The tolerance the expectations allow on top of a bound the service promises.
SLACK = 1.0
# How long after the database is back every kind of request must succeed again.
RECOVERY_SECONDS = 5.0
RECOVERY_LIMIT = 15.0  # how long the check looks for that recovery at all
STREAK = 3  # consecutive good read+write rounds that make "recovered"
DOWN_SECONDS = 4.0
FREEZE_SECONDS = 20.0
SATURATE_SECONDS = 8.0
SATURATE_CONNECTIONS = 256
SATURATE_POOL = "2"
PROBE_EVERY = 0.5
ACCEPTED_P99 = 2.0
REFUSED_P99 = 0.5
CLIENTS = 8
THINK = 0.02  # seconds a client waits between requests: bounds the request rate on 2 cores
MAX_REQUESTS_PER_SCENARIO = 20_000
SCENARIOS = ("stopped", "frozen", "locked", "saturated")


# --- the throwaway cluster ------------------------------------------------------------------


def postgres_bin() -> Path:
    """The newest PostgreSQL server's bin folder of Debian's packages."""
    found = sorted(PG_ROOT.glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise SystemExit(f"no PostgreSQL server under {PG_ROOT} (apt-get install postgresql)")
    return found[-1].parent


def children_of(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Cluster:
    """One PostgreSQL cluster of ours in `folder`, on a port the OS handed out."""

    def __init__(self, folder: Path) -> None:
        self.bin = postgres_bin()
        self.folder = folder
        self.data = folder / "data"
        self.port = reserve_port()
        self.pid: int | None = None
        self.frozen: list[int] = []

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if os.geteuid() == 0:  # the server refuses to run as root
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=90)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stdout}{done.stderr}")

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.folder / "postgres.log")
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (it forks no more), then every backend it has."""
        if self.pid is None:
            return
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = [self.pid]
        for child in children_of(self.pid):
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
                self.frozen.append(child)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def destroy(self) -> None:
        """Thawed, stopped (by pg_ctl, else by its postmaster's PID) and its files removed."""
        self.thaw()
        if self.pid is not None and is_alive(self.pid):
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
            if is_alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="faultcheck-pg-"))
    cluster = Cluster(folder)
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


# --- what the client saw --------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    started: float
    seconds: float
    status: int | None  # None: no answer (see `error`)
    error: str = ""
    problem: bool = False  # application/problem+json with a `code`
    code: str = ""
    retry_after: bool = False
    item_id: str = ""  # of a created item

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else self.error

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def sample_of(kind: str, started: float, status: int, headers: Any, body: bytes) -> Sample:
    code = ""
    item_id = ""
    is_problem = headers.get("content-type", "").startswith("application/problem+json")
    with suppress(ValueError, AttributeError):
        if is_problem:
            code = str(json.loads(body).get("code") or "")
        elif status == 201:
            item_id = str(json.loads(body).get("id") or "")
    return Sample(
        kind,
        started,
        time.monotonic() - started,
        status,
        problem=is_problem and bool(code),
        code=code,
        retry_after="retry-after" in headers,
        item_id=item_id,
    )


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    name: str
    samples: list[Sample] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def expect(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append((name, passed, detail))

    async def send(
        self, http: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
    ) -> Sample:
        started = time.monotonic()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            patience = http.timeout.read or 0
            found = Sample(
                kind, started, time.monotonic() - started, None, f"no answer {patience:.0f}s"
            )
        except httpx.TransportError as error:
            found = Sample(kind, started, time.monotonic() - started, None, type(error).__name__)
        else:
            found = sample_of(
                kind, started, response.status_code, response.headers, response.content
            )
        self.samples.append(found)
        return found


def by_outcome(samples: list[Sample]) -> str:
    counts = collections.Counter(s.outcome for s in samples)
    return " ".join(f"{outcome}:{n}" for outcome, n in sorted(counts.items())) or "-"


def codes_of(samples: list[Sample]) -> str:
    counts = collections.Counter(f"{s.status} {s.code or '(no code)'}" for s in samples)
    return ", ".join(f"{what} x{n}" for what, n in counts.most_common(4))


def expect_enveloped(
    result: Result, samples: list[Sample], bound: float | None = None, bound_name: str = ""
) -> None:
    """The expectations every database fault shares: no 5xx but 503, each failure a 503
    problem with a code and Retry-After, answered within `bound` (when given)."""
    errors = [s for s in samples if s.status is not None and s.status >= 500 and s.status != 503]
    result.expect(
        "no 5xx other than 503",
        not errors,
        f"{len(errors)} of {len(samples)}" + (f": {codes_of(errors)}" if errors else ""),
    )
    failures = [s for s in samples if not s.ok]
    bad = [s for s in failures if s.status != 503 or not s.problem or not s.retry_after]
    result.expect(
        "every failure a 503 problem+json with a code and Retry-After",
        not bad,
        f"{len(bad)} of {len(failures)} failures not so ({by_outcome(bad)})",
    )
    if bound is None:
        return
    slow = [s for s in failures if s.seconds > bound]
    slowest = max((s.seconds for s in failures), default=0.0)
    result.expect(
        f"every failure answered within {bound:.1f} s ({bound_name})",
        not slow,
        f"{len(slow)} slower (unanswered: {sum(s.status is None for s in slow)}); "
        f"slowest {slowest:.2f} s",
    )


# --- the service ----------------------------------------------------------------------------

REPORTED = (
    "WORKERS",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_POOL_TIMEOUT",
    "DB_STATEMENT_TIMEOUT_MS",
    "HEALTH_TIMEOUT",
)
SETTINGS_PROBE = (
    "import json, sys; from app.core.config import get_settings; s = get_settings(); "
    "print(json.dumps({name: getattr(s, name) for name in sys.argv[1:]}))"
)


def reported_settings(env: dict[str, str]) -> dict[str, Any]:
    """The settings as the service reads them (environment > .env > defaults), in its cwd."""
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE, *REPORTED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise SystemExit(f"the service refuses these settings: {done.stderr[-2000:]}")
    settings: dict[str, Any] = json.loads(done.stdout)
    return settings


@dataclass
class Service:
    server: Server
    settings: dict[str, Any]
    headers: list[dict[str, str]]
    items: list[str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pool_timeout(self) -> float:
        return float(self.settings["DB_POOL_TIMEOUT"])

    @property
    def statement_timeout(self) -> float:
        return float(self.settings["DB_STATEMENT_TIMEOUT_MS"]) / 1000


class Fixture:
    """The cluster, the work folder, and the accounts and items made once through the API."""

    def __init__(self, cluster: Cluster, work: Path) -> None:
        self.cluster = cluster
        self.work = work
        self.headers: list[dict[str, str]] = []
        self.items: list[str] = []
        self.started: list[Server] = []

    @asynccontextmanager
    async def serving(
        self, result: Result, workers: int, **overrides: str
    ) -> AsyncIterator[Service]:
        """gunicorn with the load check's settings, FAULT_SETTINGS and `overrides`, once every
        worker answers /health/ready; stopped by its PID afterwards, when the errors it logged
        join the result's notes."""
        name = result.name
        options = argparse.Namespace(workers=workers, max_requests=0, rotation="10 MB")
        env = server_env(options, self.cluster.url, self.work / name, 0)
        env.update({**FAULT_SETTINGS, **overrides})
        settings = await asyncio.to_thread(reported_settings, {**env, "PORT": "1"})

        def command(port: int) -> tuple[list[str], dict[str, str]]:
            argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
            return argv, {**env, "PORT": str(port)}

        def all_ready(server: Server, response: httpx.Response) -> bool:
            return response.status_code == 200 and len(server.workers()) >= workers

        (self.work / name).mkdir(parents=True, exist_ok=True)
        try:
            server = await asyncio.to_thread(
                start_server,
                command,
                cwd=ROOT,
                output=self.work / name / "gunicorn.out",
                is_ready=all_ready,
                new_session=True,
            )
        except ServerStartError as error:
            raise SystemExit(f"gunicorn did not start for {name}: {error}") from None
        self.started.append(server)
        try:
            if not self.headers:
                await self.sign_in(server.url)
            yield Service(server, settings, self.headers, self.items)
        finally:
            await asyncio.to_thread(server.stop)
            causes = logged_errors(self.work / name / "logs")
            result.notes.append(f"the service logged errors: {causes or 'none'}")

    async def sign_in(self, url: str) -> None:
        """The load check's users (sign-up and login through the API) and a few items each."""
        self.headers = await LoadCheck(argparse.Namespace(), url).sign_in_users()
        if not self.headers:
            raise SystemExit("no items API or no login: nothing to check here")
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
            for number, headers in enumerate(self.headers):
                for count in range(ITEMS_PER_USER):
                    body = {"title": f"fc-{number}-{count}", "description": "fault check"}
                    response = await http.post("/api/v1/items", json=body, headers=headers)
                    if response.status_code != 201:
                        raise SystemExit(f"could not create an item: {response.status_code}")
                    self.items.append(str(response.json()["id"]))


EXCEPTION_NAME = re.compile(r"^([\w.]*(?:Error|Exception|Timeout)\w*)(?::|$)", re.MULTILINE)


def logged_errors(folder: Path) -> str:
    """The exception types in the service's ERROR records (the last line of each traceback)."""
    causes: collections.Counter[str] = collections.Counter()
    for line in read_log_lines(folder):
        with suppress(ValueError):
            record = json.loads(line)
            if record.get("level") in {"ERROR", "CRITICAL"}:
                text = record.get("exception") or record.get("message", "")
                names = EXCEPTION_NAME.findall(text)
                causes[names[-1] if names else "?"] += 1
    return ", ".join(f"{cause} x{n}" for cause, n in causes.most_common(4))


# --- traffic --------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Clients sending authenticated reads and writes until `stop` is set."""

    service: Service
    result: Result
    patience: float  # the client's timeout: a request still unanswered then is a hang
    writes_only: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # Items each client created: it edits only these, so no two clients race on a row (the
    # service answers such a race with 412, which is no fault of the database).
    created: collections.defaultdict[int, list[str]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )

    async def one(self, http: httpx.AsyncClient, number: int) -> Sample:
        owner = number % len(self.service.headers)
        headers = self.service.headers[owner]
        own = self.service.items[owner * ITEMS_PER_USER : (owner + 1) * ITEMS_PER_USER]
        roll = random.random()
        if self.writes_only:
            roll = 0.7 + roll * 0.3
        if roll < 0.5:
            url = f"/api/v1/items/{random.choice(own)}"
            return await self.result.send(http, "read", "GET", url, headers=headers)
        if roll < 0.7:
            url = "/api/v1/items?limit=10"
            return await self.result.send(http, "list", "GET", url, headers=headers)
        mine = self.created[number]
        if roll < 0.9 or not mine:
            body = {"title": f"fc-{number}-{random.random():.6f}", "description": "fault"}
            sent = await self.result.send(
                http, "create", "POST", "/api/v1/items", json=body, headers=headers
            )
            if sent.status == 201:
                mine.append(sent.item_id)
            return sent
        url = f"/api/v1/items/{random.choice(mine)}"
        body = {"title": f"fc-edit-{random.random():.6f}"}
        return await self.result.send(http, "update", "PATCH", url, json=body, headers=headers)

    async def run(self, clients: int = CLIENTS) -> None:
        async def client(number: int) -> None:
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(
                base_url=self.service.url, timeout=self.patience, limits=limits, trust_env=False
            ) as http:
                while not self.stop.is_set():
                    if len(self.result.samples) >= MAX_REQUESTS_PER_SCENARIO:
                        return
                    await self.one(http, number)
                    await asyncio.sleep(THINK)

        await asyncio.gather(*(client(number) for number in range(clients)))


async def time_to_recover(service: Service, result: Result, since: float) -> float | None:
    """Seconds from `since` until STREAK rounds in a row of a read and a write succeed."""
    headers = service.headers[0]
    item = service.items[0]
    streak_from: float | None = None
    streak = 0
    async with httpx.AsyncClient(base_url=service.url, timeout=5, trust_env=False) as http:
        while time.monotonic() - since < RECOVERY_LIMIT:
            read = await result.send(
                http, "recovery", "GET", f"/api/v1/items/{item}", headers=headers
            )
            body = {"title": f"fc-back-{random.random():.6f}", "description": "recovered"}
            write = await result.send(
                http, "recovery", "POST", "/api/v1/items", json=body, headers=headers
            )
            if read.ok and write.ok:
                streak_from = streak_from or read.started
                streak += 1
                if streak >= STREAK:
                    return max(0.0, streak_from - since)
            else:
                streak_from, streak = None, 0
            await asyncio.sleep(0.2)
    return None


def expect_recovery(result: Result, recovered: float | None, what: str) -> None:
    result.expect(
        f"reads and writes succeed again within {RECOVERY_SECONDS:.0f} s of {what}",
        recovered is not None and recovered <= RECOVERY_SECONDS,
        f"after {recovered:.1f} s"
        if recovered is not None
        else f"not within {RECOVERY_LIMIT:.0f} s",
    )


# --- scenarios ------------------------------------------------------------------------------


async def stopped(fixture: Fixture) -> Result:
    result = Result("stopped")
    async with fixture.serving(result, workers=2) as service:
        bound = service.pool_timeout + SLACK
        traffic = Traffic(service, result, patience=bound + 4)
        master, workers = service.server.pid, set(service.server.workers())
        load = asyncio.create_task(traffic.run())
        await asyncio.sleep(1.0)
        await asyncio.to_thread(fixture.cluster.stop, "fast")
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(fixture.cluster.start)
        back = time.monotonic()
        traffic.stop.set()
        await load
        recovered = await time_to_recover(service, result, back)
        same = service.server.is_running() and service.server.pid == master
        result.notes.append(
            f"gunicorn master kept: {same}; workers replaced meanwhile: "
            f"{len(workers - set(service.server.workers()))}"
        )
    expect_enveloped(result, result.samples, bound, "DB_POOL_TIMEOUT + 1 s")
    expect_recovery(result, recovered, "the restart, gunicorn not restarted")
    return result


def frozen_bound(service: Service) -> tuple[float, str]:
    """How long a request may wait on a frozen database (docs/configuration.md,
    DB_STATEMENT_TIMEOUT_MS): up to DB_POOL_TIMEOUT for a connection (the pool's wait, or
    asyncpg's connect timeout), then the client's own bound on the statement it sends, the
    statement timeout plus STATEMENT_MARGIN. Both read from the settings the service reports."""
    bound = service.pool_timeout + service.statement_timeout + STATEMENT_MARGIN
    return bound + SLACK, "DB_POOL_TIMEOUT + DB_STATEMENT_TIMEOUT_MS + 1 s margin, + 1 s"


async def frozen(fixture: Fixture) -> Result:
    result = Result("frozen")
    async with fixture.serving(result, workers=2) as service:
        bound, bound_name = frozen_bound(service)
        traffic = Traffic(service, result, patience=bound + 5)
        load = asyncio.create_task(traffic.run())
        await asyncio.sleep(1.0)
        fixture.cluster.freeze()
        result.notes.append(
            f"froze {len(fixture.cluster.frozen)} processes for {FREEZE_SECONDS:.0f} s"
        )
        try:
            await asyncio.sleep(FREEZE_SECONDS)
        finally:
            fixture.cluster.thaw()
        back = time.monotonic()
        traffic.stop.set()
        await load
        recovered = await time_to_recover(service, result, back)
    waited = max((s.seconds for s in result.samples), default=0.0)
    over = [s for s in result.samples if s.seconds > bound]
    result.expect(
        f"no request waits longer than {bound:.1f} s ({bound_name})",
        not over,
        f"{len(over)} waited longer ({sum(s.status is None for s in over)} never answered, "
        f"the client gave up at {traffic.patience:.0f} s); longest {waited:.2f} s",
    )
    expect_enveloped(result, result.samples)  # the wait bound is the one above
    expect_recovery(result, recovered, "SIGCONT")
    return result


async def locked(fixture: Fixture) -> Result:
    result = Result("locked")
    async with fixture.serving(result, workers=2, DB_STATEMENT_TIMEOUT_MS="2000") as service:
        hold = service.statement_timeout * 2 + 1
        bound = service.statement_timeout + STATEMENT_MARGIN + SLACK
        traffic = Traffic(service, result, patience=hold + 5, writes_only=True)
        load = asyncio.create_task(traffic.run(clients=4))
        await asyncio.sleep(0.5)
        connection = await asyncpg.connect(
            host=HOST, port=fixture.cluster.port, user="postgres", database="postgres"
        )
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
                locked_at = time.monotonic()
                await asyncio.sleep(hold)
            released = time.monotonic()
        finally:
            await connection.close()
        await asyncio.sleep(1.0)
        traffic.stop.set()
        await load
    # Writes sent this long before the release met the statement timeout while it was held.
    timed_out_by = released - service.statement_timeout - 0.2
    during = [s for s in result.samples if locked_at <= s.started < timed_out_by]
    after = [s for s in result.samples if s.started >= released]
    result.notes.append(
        f"held the lock {hold:.0f} s; writes sent meanwhile answered: {by_outcome(during)} "
        f"({codes_of([s for s in during if not s.ok]) or 'no failures'})"
    )
    clear = [s for s in during if s.status in (503, 409, 423) and s.problem]
    result.expect(
        "writes into the locked table get a clear 503 (or 409/423) problem",
        bool(during) and len(clear) == len(during),
        f"{len(clear)} of {len(during)} did ({by_outcome(during)})",
    )
    expect_enveloped(result, result.samples, bound, "DB_STATEMENT_TIMEOUT_MS + 1 s margin + 1 s")
    result.expect(
        "writes succeed once the lock is released",
        bool(after) and all(s.ok for s in after),
        f"{sum(s.ok for s in after)} of {len(after)} succeeded",
    )
    return result


async def raw_client(
    port: int, request: bytes, result: Result, deadline: float, patience: float
) -> None:
    """One keep-alive connection sending `request` again and again until `deadline`; after a
    503 it waits what `Retry-After` says, as an HTTP client should (RFC 9110 10.2.3)."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.monotonic() < deadline and len(result.samples) < MAX_REQUESTS_PER_SCENARIO:
        started = time.monotonic()
        try:
            if connection is None:
                connection = await asyncio.wait_for(asyncio.open_connection(HOST, port), patience)
            reader, writer = connection
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), patience)
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            sample = sample_of("list", started, int(lines[0].split()[1]), headers, body)
            result.samples.append(sample)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                connection = None
            if sample.status == 503 and headers.get("retry-after", "").isdigit():
                pause = min(float(headers["retry-after"]), deadline - time.monotonic())
                await asyncio.sleep(max(0.0, pause))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            reason = f"no answer {patience:.0f}s" if isinstance(error, TimeoutError) else "conn"
            result.samples.append(Sample("list", started, time.monotonic() - started, None, reason))
            if connection is not None:
                connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


async def saturated(fixture: Fixture) -> Result:
    result = Result("saturated")
    overrides = {"DB_POOL_SIZE": SATURATE_POOL, "DB_MAX_OVERFLOW": "0"}
    async with fixture.serving(result, workers=1, **overrides) as service:
        token = service.headers[0]["Authorization"]
        request = (
            f"GET /api/v1/items?limit=10 HTTP/1.1\r\nHost: {HOST}:{service.server.port}\r\n"
            f"Authorization: {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        probes = Result("probes")
        deadline = time.monotonic() + SATURATE_SECONDS
        patience = service.pool_timeout + 8

        async def probe() -> None:
            """A probe every PROBE_EVERY seconds, as a kubelet sends them: a slow answer does
            not delay the next."""
            timeout = float(service.settings["HEALTH_TIMEOUT"]) + 3
            async with httpx.AsyncClient(
                base_url=service.url, timeout=timeout, trust_env=False
            ) as http:
                await asyncio.sleep(1.0)  # the load first
                sent = []
                while time.monotonic() < deadline:
                    sent.append(
                        asyncio.create_task(probes.send(http, "ready", "GET", "/health/ready"))
                    )
                    await asyncio.sleep(PROBE_EVERY)
                await asyncio.gather(*sent)

        await asyncio.gather(
            probe(),
            *(
                raw_client(service.server.port, request, result, deadline, patience)
                for _ in range(SATURATE_CONNECTIONS)
            ),
        )
    accepted = [s.seconds for s in result.samples if s.ok]
    refused = [s for s in result.samples if s.status is not None and not s.ok]
    unanswered = [s for s in result.samples if s.status is None]
    result.notes.append(
        f"{SATURATE_CONNECTIONS} connections for {SATURATE_SECONDS:.0f} s, 1 worker, pool "
        f"{service.settings['DB_POOL_SIZE']}+{service.settings['DB_MAX_OVERFLOW']}, "
        f"DB_POOL_TIMEOUT {service.pool_timeout:g} s: accepted {len(accepted)} "
        f"(p50 {quantile(accepted, 0.5):.2f} s, p99 {quantile(accepted, 0.99):.2f} s), "
        f"refused {len(refused)} (p50 {quantile([s.seconds for s in refused], 0.5):.2f} s, "
        f"p99 {quantile([s.seconds for s in refused], 0.99):.2f} s; {codes_of(refused) or '-'}), "
        f"unanswered {len(unanswered)}"
    )
    result.notes.append(
        f"readiness probes: {by_outcome(probes.samples)}; slowest "
        f"{max((s.seconds for s in probes.samples), default=0):.2f} s"
    )
    bad_probes = [s for s in probes.samples if s.status != 200]
    result.expect(
        "every /health/ready probe during the load answers 200",
        bool(probes.samples) and not bad_probes,
        f"{len(bad_probes)} of {len(probes.samples)} did not ({by_outcome(bad_probes)})",
    )
    result.expect(
        f"accepted requests' p99 under {ACCEPTED_P99:.0f} s",
        bool(accepted) and quantile(accepted, 0.99) < ACCEPTED_P99,
        f"p99 {quantile(accepted, 0.99):.2f} s of {len(accepted)}",
    )
    refused_p99 = quantile([s.seconds for s in refused], 0.99)
    shed = [s for s in refused if s.status == 503 and s.retry_after and s.problem]
    result.expect(
        f"refused requests: 503 problem with Retry-After, p99 under {REFUSED_P99 * 1000:.0f} ms",
        len(shed) == len(refused) and refused_p99 < REFUSED_P99,
        f"{len(shed)} of {len(refused)} so; p99 {refused_p99 * 1000:.0f} ms",
    )
    result.expect(
        "every request answered (no connection error, no hang)",
        not unanswered,
        f"{len(unanswered)} unanswered ({by_outcome(unanswered)})",
    )
    return result


# --- the run --------------------------------------------------------------------------------


def print_report(results: list[Result]) -> list[str]:
    """The table of what each scenario saw, then each expectation; the failed ones' lines."""
    print(f"\n{'scenario':<10}{'requests':>9}{'p50 s':>8}{'p99 s':>8}{'max s':>8}  by status")
    for result in results:
        seconds = [s.seconds for s in result.samples]
        print(
            f"{result.name:<10}{len(seconds):>9}{quantile(seconds, 0.5):>8.2f}"
            f"{quantile(seconds, 0.99):>8.2f}{max(seconds, default=0):>8.2f}  "
            f"{by_outcome(result.samples)}"
        )
    failed: list[str] = []
    for result in results:
        print(f"\n{result.name}:")
        for note in result.notes:
            print(f"  {note}")
        for name, passed, detail in result.checks:
            print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
            if not passed:
                failed.append(f"{result.name}: {name} ({detail})")
    return failed


def end_on_sigterm() -> None:
    """SIGTERM (CI's timeout) unwinds like Ctrl-C, so the cleanup below still runs."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


async def run_scenarios(fixture: Fixture, names: list[str]) -> list[Result]:
    runners: dict[str, Callable[[Fixture], Any]] = {
        "stopped": stopped,
        "frozen": frozen,
        "locked": locked,
        "saturated": saturated,
    }
    results = []
    for name in names:
        print(f"scenario {name} ...", flush=True)
        began = time.monotonic()
        results.append(await runners[name](fixture))
        print(f"  done in {time.monotonic() - began:.0f} s", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    end_on_sigterm()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="faultcheck-") as folder,
        throwaway_cluster() as cluster,
    ):
        print(f"PostgreSQL {cluster.bin.parent.name} on {HOST}:{cluster.port} (pid {cluster.pid})")
        dbutil.upgrade(cluster.url)
        fixture = Fixture(cluster, Path(folder))
        try:
            results = asyncio.run(run_scenarios(fixture, names))
        finally:
            for server in fixture.started:
                server.stop()
    failed = print_report(results)
    took = time.monotonic() - started
    if failed:
        print(f"\nfaultcheck FAILED in {took:.0f} s, {len(failed)} expectations: {failed[0]}")
        return 1
    print(f"\nfaultcheck passed in {took:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("faultcheck interrupted: its gunicorn and PostgreSQL are stopped and removed")
        sys.exit(130)
