"""Reliability check of production serving: gunicorn, 2 workers, PostgreSQL, under load.

During a bounded load (default 20 s, 32 clients, 127.0.0.1 only) it sends SIGHUP, lets
max_requests recycle workers, SIGKILLs one worker, then pauses to compare /metrics with the
requests answered, and ends with SIGTERM under load. Then it checks the saved JSON log files
(one access line per answered request) and that every acknowledged write is in the database.

    python scripts/loadcheck.py                # the full run (about 35 s in all)
    python scripts/loadcheck.py --short        # the CI run (about 15 s)

Idempotent requests that meet a connection error are retried once (RFC 9112 9.3.1); raw
connection errors and final failures are both reported. It starts one gunicorn (in its own
session) and a throwaway database, and ends and drops exactly those. Exit status 0 when every
check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gzip
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import dbutil  # noqa: E402
from tests.servers import Server, ServerStartError, start_server  # noqa: E402

HOST = "127.0.0.1"
METRICS_TOKEN = "loadcheck-metrics-token"  # noqa: S105
X_TOKEN = "loadcheck-service-token-0123456789"  # noqa: S105
PASSWORD = "loadcheck-password-123"  # noqa: S105
USERS = 4
# A worker logs and counts an answer right after sending it: a SIGKILL in between takes the
# line and the count. Answers that arrived this long before the kill may be missing from the
# log and from /metrics; the margin covers a loaded machine's scheduling delays and the
# master's reading of relayed lines.
KILL_LOG_WINDOW = 0.25
PLAIN_READS = (("live", "/health/live"), ("ready", "/health/ready"), ("version", "/api/v1/version"))
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass
class KindStats:
    sent: int = 0
    succeeded: int = 0
    raw_connection_errors: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class Failure:
    kind: str
    reason: str
    started: float
    ended: float
    steps: list[tuple[str, float]] = field(default_factory=list)  # httpx trace of the attempt


@dataclass
class Events:
    hup: float | None = None
    kill: float | None = None
    killed_pid: int | None = None
    term: float | None = None


class Tally:
    """Every request the script sends, by kind; `answered` counts every HTTP response."""

    def __init__(self) -> None:
        self.kinds: dict[str, KindStats] = collections.defaultdict(KindStats)
        self.failures: list[Failure] = []
        self.raw_errors: list[float] = []  # when each raw connection error happened
        self.answered = 0
        self.answered_without_id = 0  # readiness polls at start
        self.answered_ids: set[str] = set()  # X-Request-ID of every attempt that was answered
        self.errored_ids: dict[str, float] = {}  # ... of every attempt that met an error
        self.sent_at: dict[str, float] = {}  # ... and when each attempt was sent
        self.answered_at: dict[str, float] = {}  # ... and when each answer arrived
        self.next_id = 0
        self.in_flight = 0
        self.max_in_flight_at_kill = 0


@dataclass
class Client:
    number: int
    http: httpx.AsyncClient
    headers: dict[str, str]
    items: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    counter: int = 0


class LoadCheck:
    def __init__(self, args: argparse.Namespace, base_url: str) -> None:
        self.args = args
        self.base_url = base_url
        self.tally = Tally()
        self.events = Events()
        self.has_items = False
        self.created: dict[str, str] = {}  # acknowledged item id -> owner client
        self.expected_titles: dict[str, str] = {}
        self.uncertain: set[str] = set()
        self.running = False

    async def call(
        self,
        http: httpx.AsyncClient,
        kind: str,
        method: str,
        url: str,
        expect: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response | None:
        stats = self.tally.kinds[kind]
        stats.sent += 1
        started = time.monotonic()
        attempts = 2 if method in IDEMPOTENT else 1
        reason = ""
        steps: list[tuple[str, float]] = []

        async def trace(event: str, _info: dict[str, Any]) -> None:
            steps.append((event, time.monotonic()))

        self.tally.in_flight += 1
        try:
            for _ in range(attempts):
                self.tally.next_id += 1
                request_id = f"loadcheck-{self.tally.next_id}"
                headers = {**kwargs.pop("headers", {}), "X-Request-ID": request_id}
                self.tally.sent_at[request_id] = time.monotonic()
                steps.clear()
                try:
                    response = await http.request(
                        method, url, headers=headers, extensions={"trace": trace}, **kwargs
                    )
                except httpx.TransportError as error:
                    stats.raw_connection_errors += 1
                    self.tally.raw_errors.append(time.monotonic())
                    self.tally.errored_ids[request_id] = time.monotonic()
                    reason = type(error).__name__
                    kwargs["headers"] = headers
                    continue
                self.tally.answered += 1
                self.tally.answered_ids.add(request_id)
                self.tally.answered_at[request_id] = time.monotonic()
                if response.status_code in expect:
                    stats.succeeded += 1
                    return response
                reason = f"HTTP {response.status_code}"
                break
        finally:
            self.tally.in_flight -= 1
        stats.failures[reason] += 1
        self.tally.failures.append(Failure(kind, reason, started, time.monotonic(), list(steps)))
        return None

    # --- setup -------------------------------------------------------------------------

    async def sign_in_users(self) -> list[dict[str, str]]:
        """Users through the API (sign-up, then password login); their bearer headers."""
        headers = []
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            spec = await self.call(http, "setup", "GET", "/openapi.json")
            paths = spec.json().get("paths", {}) if spec is not None else {}
            self.has_items = "/api/v1/items" in paths and "/api/v1/auth/token" in paths
            if not self.has_items:
                return []
            for number in range(USERS):
                email = f"loadcheck{number}@example.com"
                body = {"email": email, "password": PASSWORD, "full_name": f"Load {number}"}
                await self.call(http, "setup", "POST", "/api/v1/users", (201,), json=body)
                login = {"username": email, "password": PASSWORD}
                token = await self.call(
                    http, "setup", "POST", "/api/v1/auth/token", (200,), data=login
                )
                if token is None:
                    raise SystemExit("could not log in a load user")
                headers.append({"Authorization": f"Bearer {token.json()['access_token']}"})
        return headers

    # --- load ----------------------------------------------------------------------------

    async def step(self, client: Client) -> None:
        """One request of a weighted mix; item requests when the items API exists."""
        http = client.http
        roll = random.random()
        if not self.has_items or roll < 0.4:
            kind, path = random.choice(PLAIN_READS)
            await self.call(http, kind, "GET", path)
            return
        headers = client.headers
        if roll < 0.55 or not client.items:
            client.counter += 1
            title = f"lc-{client.number}-{client.counter}"
            body = {"title": title, "description": "written by the load check"}
            response = await self.call(
                http, "item create", "POST", "/api/v1/items", (201,), json=body, headers=headers
            )
            if response is not None:
                item_id = str(response.json()["id"])
                client.items.append(item_id)
                self.created[item_id] = str(client.number)
                self.expected_titles[item_id] = title
        elif roll < 0.75:
            item_id = random.choice(client.items)
            await self.call(http, "item read", "GET", f"/api/v1/items/{item_id}", headers=headers)
        elif roll < 0.88:
            await self.call(http, "item list", "GET", "/api/v1/items?limit=10", headers=headers)
        else:
            item_id = random.choice(client.items)
            client.counter += 1
            title = f"lc-{client.number}-{client.counter}-edited"
            response = await self.call(
                http,
                "item update",
                "PATCH",
                f"/api/v1/items/{item_id}",
                json={"title": title},
                headers=headers,
            )
            if response is None:
                self.uncertain.add(item_id)  # it may or may not have landed
            else:
                self.expected_titles[item_id] = title

    async def drive(self, clients: list[Client], seconds: float, stop_on_refusal: bool) -> None:
        deadline = time.monotonic() + seconds

        async def loop(client: Client) -> None:
            while time.monotonic() < deadline and self.running:
                before = len(self.tally.failures)
                await self.step(client)
                refused = len(self.tally.failures) > before
                if stop_on_refusal and refused and self.events.term is not None:
                    return

        await asyncio.gather(*(loop(client) for client in clients))

    async def scrape(self, http: httpx.AsyncClient) -> float:
        response = await self.call(
            http,
            "metrics",
            "GET",
            "/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        )
        if response is None:
            return -1
        total = 0.0
        for family in text_string_to_metric_families(response.text):
            if family.name == "http_requests":
                total += sum(s.value for s in family.samples if s.name == "http_requests_total")
        return total


def describe(failure: Failure, origin: float) -> str:
    """The attempt's httpx steps, in ms from `origin` (the SIGTERM), to tell where it broke."""
    steps = ", ".join(
        f"{name.split('.', 1)[-1]}@{(at - origin) * 1000:+.0f}" for name, at in failure.steps
    )
    return f"started {(failure.started - origin) * 1000:+.0f} ms: {steps}"


def read_log_lines(folder: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".gz":
            content = gzip.decompress(path.read_bytes()).decode("utf-8")
        else:
            content = path.read_text(encoding="utf-8")
        lines.extend(content.splitlines())
    return lines


async def rows_in_database(url: str) -> dict[str, str] | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT id, title FROM items"))
            return {str(row[0]): str(row[1]) for row in result}
    except Exception:  # no items table yet: nothing to compare
        return None
    finally:
        await engine.dispose()


def server_env(
    args: argparse.Namespace, database_url: str, work: Path, port: int
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
    env.update(
        {
            "HOST": HOST,
            "PORT": str(port),
            "DATABASE_URL": database_url,
            "WORKERS": str(args.workers),
            "MAX_REQUESTS": str(args.max_requests),
            "MAX_REQUESTS_JITTER": str(args.max_requests // 4),
            "GRACEFUL_TIMEOUT": "10",
            "GUNICORN_TIMEOUT": "30",
            "SAVE": "true",
            "JSON_LOG": "true",
            "LEVEL": "INFO",
            "LOG_SAVE_PATH": str(work / "logs"),
            "ROTATION": args.rotation,
            "COMPRESSION": "gz",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
            "METRICS_TOKEN": METRICS_TOKEN,
            "X_TOKEN": X_TOKEN,
            "RATE_LIMIT_ENABLED": "false",
            "OPEN_REGISTRATION": "true",
            # Readiness and pool waits: generous, this checks dropped requests, not latency
            # (a busy CI machine can make a ping take seconds).
            "HEALTH_TIMEOUT": "15",
            "DB_POOL_TIMEOUT": "30",
            "DB_POOL_SIZE": "10",
            "DB_MAX_OVERFLOW": "10",
            "STATUS": "dev",
            "DOCS_ENABLED": "true",
        }
    )
    return env


async def start_gunicorn(args: argparse.Namespace, database_url: str, work: Path) -> Server:
    """The one server this script starts (in its own session), once every worker is ready."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        return argv, server_env(args, database_url, work, port)

    def every_worker_ready(server: Server, response: httpx.Response) -> bool:
        return response.status_code == 200 and len(server.workers()) >= args.workers

    try:
        return await asyncio.to_thread(
            start_server,
            command,
            cwd=ROOT,
            output=work / "gunicorn.out",
            is_ready=every_worker_ready,
            port=args.port or None,
            new_session=True,
        )
    except ServerStartError as error:
        raise SystemExit(f"gunicorn did not start: {error}") from None


async def run(args: argparse.Namespace, database_url: str, work: Path) -> bool:  # noqa: PLR0915
    server = await start_gunicorn(args, database_url, work)
    base_url = server.url
    check = LoadCheck(args, base_url)
    check.tally.answered += server.answered  # the readiness polls, logged without our ids
    check.tally.answered_without_id += server.answered
    checks: list[tuple[str, bool, str]] = []
    try:
        user_headers = await check.sign_in_users()
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [
            Client(
                number,
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30),
                user_headers[number % len(user_headers)] if user_headers else {},
            )
            for number in range(args.clients)
        ]
        print(
            f"load: {args.clients} clients for {args.duration:.0f} s; "
            f"items API: {'yes' if check.has_items else 'not on this branch yet'}"
        )

        async def disturb() -> None:
            await asyncio.sleep(args.duration * 0.25)
            check.events.hup = time.monotonic()
            server.signal(signal.SIGHUP)
            print(f"  t={args.duration * 0.25:4.1f}s SIGHUP (reload)")
            await asyncio.sleep(args.duration * 0.30)
            workers = server.workers()
            if workers:
                check.tally.max_in_flight_at_kill = check.tally.in_flight
                check.events.kill = time.monotonic()
                check.events.killed_pid = workers[0]
                os.kill(workers[0], signal.SIGKILL)  # a child of the master we started
                print(f"  t={args.duration * 0.55:4.1f}s SIGKILL worker {workers[0]}")

        check.running = True
        load_started = time.monotonic()
        await asyncio.gather(check.drive(clients, args.duration, False), disturb())
        load_seconds = time.monotonic() - load_started

        # Quiet: every client has its answer. Now the counters must add up.
        # Workers come and go with recycling (a replacement is forked once the old one has
        # exited), so "replaced" is: the killed one is gone and a full set runs, within 5 s.
        replaced = False
        for _ in range(50):
            workers_after = server.workers()
            if check.events.killed_pid not in workers_after and len(workers_after) >= args.workers:
                replaced = True
                break
            await asyncio.sleep(0.1)
        answered_before_scrape = check.tally.answered
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            metrics_total = await check.scrape(http)

        # SIGTERM under load: what was sent before it must be answered.
        term_clients = clients[: max(4, args.clients // 4)]

        async def terminate() -> None:
            await asyncio.sleep(0.5)
            check.events.term = time.monotonic()
            server.signal(signal.SIGTERM)
            print("  SIGTERM under load")

        await asyncio.gather(check.drive(term_clients, 3.0, True), terminate())
        check.running = False
        exit_code = server.wait(30)
        for client in clients:
            await client.http.aclose()

        # ---- checks ----
        tally = check.tally
        sent = sum(k.sent for k in tally.kinds.values())
        term_at = check.events.term or float("inf")
        kill_at = check.events.kill or float("inf")
        # After SIGTERM, new connections are refused: expected. A request refused then was
        # never accepted, even if the client began it (opening its connection) just before.
        after_term = [
            f
            for f in tally.failures
            if f.ended >= term_at and (f.started >= term_at or f.reason == "ConnectError")
        ]
        before_term = [f for f in tally.failures if f not in after_term]
        # The SIGKILL's cost: requests on the killed worker's connections, in flight at the
        # kill or sent on a connection that died with it a moment later (not retried when
        # not idempotent).
        killed = [
            f
            for f in before_term
            if f.started <= kill_at + 0.5
            and kill_at <= f.ended <= kill_at + 2.0
            and not f.reason.startswith("HTTP")
        ]
        other = [f for f in before_term if f not in killed]
        for failure in [*other, *(f for f in before_term if f.ended >= term_at)]:
            print(f"  unexplained {failure.kind} {failure.reason}: " + describe(failure, term_at))
        raw = sum(k.raw_connection_errors for k in tally.kinds.values())
        # A request the killed worker answered (or counted, or logged) whose response never
        # arrived: the server saw it, the client did not. Bounded by these errors.
        near_kill = sum(kill_at <= t <= kill_at + 2.0 for t in tally.raw_errors)

        print(f"\nrequests over {load_seconds:.1f} s of load (+ setup, scrape, SIGTERM phase):")
        print(f"  {'kind':<12}{'sent':>8}{'ok':>8}{'failed':>8}{'raw conn err':>14}  reasons")
        for name, stats in sorted(tally.kinds.items()):
            failed = sum(stats.failures.values())
            reasons = ", ".join(f"{r} x{n}" for r, n in stats.failures.items())
            print(
                f"  {name:<12}{stats.sent:>8}{stats.succeeded:>8}{failed:>8}"
                f"{stats.raw_connection_errors:>14}  {reasons}"
            )
        print(
            f"  total: sent {sent}, answered {tally.answered}, raw connection errors {raw}, "
            f"final failures {len(tally.failures)}"
        )
        after_term_raw = sum(t >= term_at for t in tally.raw_errors)
        print(
            f"  raw connection errors: {near_kill} within 2 s of the SIGKILL, "
            f"{after_term_raw} after SIGTERM, "
            f"{raw - near_kill - after_term_raw} elsewhere (reload, recycling)"
        )

        checks.append(
            (
                "no failed request through SIGHUP and max_requests recycling",
                not other,
                f"{len(other)} unexplained failures"
                + (f": {collections.Counter(f.reason for f in other)}" if other else ""),
            )
        )
        checks.append(
            (
                "SIGKILL cost at most the requests in flight, and the worker was replaced",
                check.events.kill is not None
                and len(killed) <= tally.max_in_flight_at_kill
                and replaced,
                f"{len(killed)} failed (of {tally.max_in_flight_at_kill} in flight); "
                f"replaced={replaced}",
            )
        )
        term_ok = not [f for f in before_term if f.ended >= term_at]
        checks.append(
            (
                "SIGTERM: every request sent before it was answered; clean exit",
                term_ok and exit_code == 0,
                f"exit code {exit_code}; after the signal {len(after_term)} requests were "
                f"refused ({collections.Counter(f.reason for f in after_term)})",
            )
        )
        lines = read_log_lines(work / "logs")
        parsed = []
        unparsable = 0
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                unparsable += 1
        access = [r for r in parsed if r.get("kind") == "access"]
        logged_ids = {r.get("request_id") for r in access}
        # Every answered request is logged, but for the last answers of the SIGKILLed worker
        # (see KILL_LOG_WINDOW). A logged one that was not answered must be one
        # whose connection died with the SIGKILLed worker (answered, response lost).
        not_logged = tally.answered_ids - logged_ids
        lost_at_kill = {
            i for i in not_logged if -KILL_LOG_WINDOW <= tally.answered_at[i] - kill_at <= 0.05
        }
        ours = {i for i in logged_ids if isinstance(i, str) and i.startswith("loadcheck-")}
        unanswered = ours - tally.answered_ids
        explained = {i for i in unanswered if 0 <= tally.errored_ids.get(i, -1) - kill_at <= 2}
        # httpcore resends a request by itself when its connection dies before the answer:
        # the killed worker may have logged the first copy. Such twins must be at the kill.
        seen: collections.Counter[str] = collections.Counter(
            i for i in (r.get("request_id") for r in access) if isinstance(i, str)
        )
        twins = [i for i, n in seen.items() if n > 1]
        foreign = sum(n for i, n in seen.items() if not i.startswith("loadcheck-"))
        twins_at_kill = [i for i in twins if -0.5 <= tally.sent_at.get(i, -100.0) - kill_at <= 2]
        files = sorted(p.name for p in (work / "logs").rglob("*") if p.is_file())
        checks.append(
            (
                "log files: one JSON access line per answered request",
                unparsable == 0
                and not_logged == lost_at_kill
                and unanswered == explained
                and twins == twins_at_kill
                and foreign == tally.answered_without_id
                and len(access)
                == tally.answered - len(lost_at_kill) + len(unanswered) + len(twins),
                f"{len(access)} access lines for {tally.answered} answers "
                f"({len(not_logged)} answers not logged, {len(lost_at_kill)} of them answered "
                f"just before the SIGKILL, {len(unanswered)} logged requests "
                f"whose answer was lost, {len(explained)} of them to the SIGKILL, "
                f"{len(twins)} logged twice, {len(twins_at_kill)} of them sent at the SIGKILL; "
                f"{foreign} lines without our ids for {tally.answered_without_id} polls), "
                f"{unparsable} unparsable of {len(lines)} lines, in {len(files)} files",
            )
        )
        answered_near_kill = sum(
            -KILL_LOG_WINDOW <= at - kill_at <= 0.05 for at in tally.answered_at.values()
        )
        difference = metrics_total - answered_before_scrape
        checks.append(
            (
                "/metrics sum over workers == requests answered before the scrape",
                -answered_near_kill <= difference <= near_kill + len(twins_at_kill),
                f"{metrics_total:.0f} vs {answered_before_scrape}"
                + (
                    " (the difference: answers lost to the SIGKILL)"
                    if difference > 0
                    else " (the difference: counts the SIGKILLed worker had not written)"
                    if difference < 0
                    else ""
                ),
            )
        )

        recycles = sum("Maximum request limit" in r.get("message", "") for r in parsed)
        hups = sum(r.get("message", "").startswith("Hang up") for r in parsed)
        checks.append(
            (
                "the disturbances happened (reload, recycling)",
                recycles >= 1 and hups >= 1,
                f"{hups} reload(s), {recycles} max_requests recycling(s)",
            )
        )

        rows = await rows_in_database(database_url)
        if check.has_items and rows is not None:
            missing = [i for i in check.created if i not in rows]
            stale = [
                i
                for i, title in check.expected_titles.items()
                if i not in check.uncertain and i in rows and rows[i] != title
            ]
            checks.append(
                (
                    "every acknowledged write is in the database",
                    not missing and not stale,
                    f"{len(check.created)} acknowledged creates, {len(missing)} missing, "
                    f"{len(stale)} acknowledged updates not found; "
                    f"{len(rows) - len(check.created)} unacknowledged rows",
                )
            )
        else:
            print("  (no items API here: the write check is skipped)")
    finally:
        check.running = False
        server.stop()

    print()
    for name, passed, detail in checks:
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
    ok = all(passed for _, passed, _ in checks)
    if not ok:
        tail = (work / "gunicorn.out").read_bytes()[-3000:].decode("utf-8", errors="replace")
        print(f"\n--- last output of gunicorn ---\n{tail}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="0: a free one from the OS")
    parser.add_argument("--max-requests", type=int, default=250)
    parser.add_argument("--rotation", default="1 MB", help="small, so files rotate during the run")
    parser.add_argument("--short", action="store_true", help="the CI run: 8 s, 16 clients")
    parser.add_argument(
        "--database-server",
        default=os.environ.get("LOADCHECK_DATABASE_URL")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    if args.short:
        args.duration, args.clients, args.max_requests = 8.0, 16, 60
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="loadcheck-") as folder,
        dbutil.throwaway_database(args.database_server, Path(folder)) as database_url,
    ):
        dbutil.upgrade(database_url)
        ok = asyncio.run(run(args, database_url, Path(folder)))
    print(f"\nloadcheck {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
