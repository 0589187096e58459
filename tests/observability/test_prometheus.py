"""The service's series, rules and dashboard as a real Prometheus sees them: Debian's
`prometheus` scrapes gunicorn with two workers and a job worker (one scrape job, as in
deploy/prometheus/prometheus.yml) every second while bounded load runs, exports included; its
HTTP API then gives the request rates, latency quantiles and error ratios the load produced,
loads the alert rules without an evaluation error, and answers every dashboard panel's query
with series.

Runs with PROMETHEUS_TESTS=1 (.ci/observability.sh installs the package and sets it); then a
missing binary fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.metrics import LATENCY_BUCKETS
from app.items.service import EXPORT_TASK
from tests.core.test_gunicorn import _start
from tests.jobs.test_worker_process import REDIS_TEST_URL
from tests.servers import HOST, ROOT, Server, start_server

pytestmark = pytest.mark.slow
if os.environ.get("PROMETHEUS_TESTS") != "1":
    pytest.skip(
        "Prometheus tests run with PROMETHEUS_TESTS=1 (.ci/observability.sh)",
        allow_module_level=True,
    )
PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None:
    raise RuntimeError("PROMETHEUS_TESTS=1 but `prometheus` is missing: apt-get install prometheus")

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "service.json"
JOB = "fastapi-service-template"
ITEM_ROUTE = "/api/v1/items/{item_id}"
BOOM_ROUTE = "/boom"
# One round of the load: 8 reads of an item, 1 read of a missing one (404), 1 failure (500);
# every EXPORT_EVERY rounds one export too, a job for the worker (202).
ROUND = (("read", 8), ("missing", 1), ("boom", 1))
ROUNDS = 120
EXPORT_EVERY = 20
EXPORTS = ROUNDS // EXPORT_EVERY
CLIENTS = 6
NOT_PROBES = 'route!~"/health/.*|/metrics"'


@dataclass
class Load:
    started: float = 0.0
    ended: float = 0.0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


@dataclass
class Stack:
    service: Server
    worker: Server
    prometheus: Server
    load: Load

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr, "time": str(at if at is not None else time.time())}
        answer = httpx.get(f"{self.prometheus.url}/api/v1/query", params=params, timeout=30)
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float:
        result = self.query(expr, at)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])


async def _run_load(base_url: str) -> Load:
    load = Load()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        email = f"prom-{secrets.token_hex(4)}@example.com"
        password = "a-long-enough-password"
        assert (
            await http.post("/api/v1/users", json={"email": email, "password": password})
        ).status_code == 201
        login = await http.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await http.post("/api/v1/items", json={"title": "watched"}, headers=headers)
        requests = {
            "read": ("GET", f"/api/v1/items/{created.json()['id']}"),
            "missing": ("GET", "/api/v1/items/987654321"),
            "boom": ("GET", BOOM_ROUTE),
            "export": ("POST", "/api/v1/items/exports"),
        }
        queue: asyncio.Queue[str] = asyncio.Queue()
        for number in range(ROUNDS):
            for kind, count in ROUND:
                for _ in range(count):
                    queue.put_nowait(kind)
            if number % EXPORT_EVERY == 0:
                queue.put_nowait("export")

        async def client() -> None:
            while not queue.empty():
                kind = queue.get_nowait()
                sent = time.perf_counter()
                answer = await http.request(*requests[kind], headers=headers)
                load.latencies.setdefault(kind, []).append(time.perf_counter() - sent)
                load.statuses[kind, answer.status_code] += 1
                await asyncio.sleep(0.01)  # spread over several scrapes

        load.started = time.time()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        load.ended = time.time()
    return load


def _worker(database_url: str, folder: Path) -> Server:
    """The job worker on the service's database, with a queue of its own in Redis."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
        env.update(
            DATABASE_URL=database_url,
            JOBS_BROKER_URL=REDIS_TEST_URL,
            SERVICE_CODE=f"p{secrets.token_hex(6)}",  # the queue's name
            JOBS_POLL_SECONDS="0.2",
            JOBS_METRICS_PORT=str(port),
            JSON_LOG="false",
        )
        return [sys.executable, "-m", "app.worker"], env

    return start_server(command, cwd=ROOT, output=folder / "worker.out", health="/metrics")


def _prometheus(targets: list[Server], folder: Path) -> Server:
    """Prometheus on a free port, scraping `targets` as one job (the dashboard's `$job`) and
    evaluating the rules every second."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        target = {"targets": [f"{HOST}:{server.port}" for server in targets]}
        config = folder / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [{"job_name": JOB, "static_configs": [target]}],
                }
            )
        )
        argv = [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={HOST}:{port}",
        ]
        return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    return start_server(command, cwd=folder, output=folder / "prometheus.out", health="/-/ready")


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("prometheus")
    gunicorn = contextmanager(_start)
    with gunicorn(database_url, folder, app="tests.observability.observed_app:app") as service:
        worker = _worker(database_url, folder)
        prometheus = _prometheus([service, worker], folder)
        try:
            # Scraped before the load starts: the counters' first samples come before it.
            _until(lambda: _scraped_once(prometheus, targets=2))
            time.sleep(2)
            load = asyncio.run(_run_load(service.url))
            stack = Stack(service, worker, prometheus, load)
            expected = stack.load.statuses["read", 200]
            _until(lambda: _scraped(stack, ITEM_ROUTE, "200") == expected)
            _until(lambda: _exports_done(stack) == EXPORTS)
            time.sleep(3)  # a few more scrapes and rule evaluations after the load
            yield stack
        finally:
            prometheus.stop()
            worker.stop()


def _scraped_once(prometheus: Server, targets: int) -> bool:
    params = {"query": f'up{{job="{JOB}"}} == 1'}
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params=params, timeout=30).json()
    return len(answer["data"]["result"]) == targets


def _exports_done(stack: Stack) -> float:
    result = stack.query(f'sum(jobs_succeeded_total{{job="{JOB}", task="{EXPORT_TASK}"}})')
    return float(result[0]["value"][1]) if result else -1.0


def _scraped(stack: Stack, route: str, status: str) -> float:
    result = stack.query(f'sum(http_requests_total{{route="{route}", status="{status}"}})')
    return float(result[0]["value"][1]) if result else -1.0


def _until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s"
        time.sleep(0.5)


def test_the_load_was_answered_as_planned(stack: Stack) -> None:
    assert stack.load.statuses == {
        ("read", 200): ROUNDS * 8,
        ("missing", 404): ROUNDS,
        ("boom", 500): ROUNDS,
        ("export", 202): EXPORTS,
    }


def test_counters_summed_over_both_workers_match_the_requests_sent(stack: Stack) -> None:
    for (kind, status), count in stack.load.statuses.items():
        if kind == "export":
            continue  # counted by the worker, below
        route = BOOM_ROUTE if kind == "boom" else ITEM_ROUTE
        assert _scraped(stack, route, str(status)) == count
    # Both workers served: each wrote its own files, and the scrape summed them.
    assert stack.value(f'count(worker_resident_memory_bytes{{job="{JOB}"}})') == 2


def test_the_worker_counts_each_export_once(stack: Stack) -> None:
    for family in ("jobs_enqueued_total", "jobs_started_total", "jobs_succeeded_total"):
        expr = f'sum({family}{{job="{JOB}", task="{EXPORT_TASK}"}})'
        assert stack.value(expr) == EXPORTS, family
    for family in ("jobs_failed_total", "jobs_retried_total"):  # at zero, yet exported
        assert stack.value(f'sum({family}{{job="{JOB}", task="{EXPORT_TASK}"}})') == 0, family
    assert stack.value(f'sum(job_duration_seconds_count{{job="{JOB}"}})') >= EXPORTS
    assert stack.value(f'max(jobs_queue_depth{{job="{JOB}"}})') == 0


def test_request_rate_matches_the_load(stack: Stack) -> None:
    load = stack.load
    window = max(5, round(load.ended - load.started) + 2)
    rate = stack.value(
        f"sum(rate(http_requests_total{{{NOT_PROBES}}}[{window}s]))", at=load.ended + 1
    )
    sent = load.total / (load.ended - load.started)
    assert sent * 0.6 < rate < sent * 1.4, (rate, sent)


def test_error_ratios_match_the_load(stack: Stack) -> None:
    at = stack.load.ended + 1
    expected_5xx = 1 / 10
    server_errors = stack.value(
        f'sum(rate(http_requests_total{{status=~"5..", {NOT_PROBES}}}[1m]))'
        f" / sum(rate(http_requests_total{{{NOT_PROBES}}}[1m]))",
        at=at,
    )
    assert server_errors == pytest.approx(expected_5xx, abs=0.02)
    client_errors = stack.value(
        f'sum(rate(http_requests_total{{status=~"4..", {NOT_PROBES}}}[1m]))'
        f" / sum(rate(http_requests_total{{{NOT_PROBES}}}[1m]))",
        at=at,
    )
    assert client_errors == pytest.approx(1 / 10, abs=0.02)
    # The SLO's recording rule, evaluated by this Prometheus, says the same.
    recorded = stack.value(f'job:slo_errors:ratio_rate5m{{job="{JOB}"}}', at=at + 2)
    assert recorded == pytest.approx(expected_5xx, abs=0.02)


def _bucket_above(seconds: float) -> float:
    return next((bound for bound in LATENCY_BUCKETS if bound >= seconds), float("inf"))


def test_latency_quantiles_agree_with_what_the_client_measured(stack: Stack) -> None:
    """The server's time is part of the client's: each quantile lies at or below the bucket
    bound above the client's, and the quantiles rise with the rank."""
    at = stack.load.ended + 1
    reads = stack.load.latencies["read"]
    quantiles = {}
    for q in (0.5, 0.95, 0.99):
        quantiles[q] = stack.value(
            f"histogram_quantile({q}, sum by (le) "
            f'(rate(http_request_duration_seconds_bucket{{route="{ITEM_ROUTE}"}}[1m])))',
            at=at,
        )
        client = statistics.quantiles(reads, n=100)[round(q * 100) - 1]
        assert 0 < quantiles[q] <= _bucket_above(client), (q, quantiles[q], client)
    assert quantiles[0.5] <= quantiles[0.95] <= quantiles[0.99]


def test_pool_and_runtime_series_come_from_each_worker(stack: Stack) -> None:
    for name in (
        "db_pool_connections_in_use",
        "db_pool_connections_idle",
        "db_pool_overflow",
        "db_pool_max_connections",
        "event_loop_lag_seconds",
        "worker_resident_memory_bytes",
    ):
        pids = {series["metric"]["pid"] for series in stack.query(f'{name}{{job="{JOB}"}}')}
        assert len(pids) == 2, name
    assert stack.value(f'sum(db_pool_max_connections{{job="{JOB}"}})') == 2 * 20
    # Timed: the checkouts that found no idle connection (at least each worker's first ones,
    # which opened one), not the many that found one idle.
    timed = stack.value(f'sum(db_pool_wait_seconds_count{{job="{JOB}"}})')
    assert 2 <= timed < stack.load.statuses["read", 200]
    assert 10e6 < stack.value(f'min(worker_resident_memory_bytes{{job="{JOB}"}})') < 2e9
    assert stack.value(f'max(event_loop_lag_seconds{{job="{JOB}"}})') < 5


def test_the_alert_rules_evaluate_and_the_burn_alert_is_pending(stack: Stack) -> None:
    """Every rule evaluates on the real series without an error; 10% 5xx starts the fast
    burn alert (pending: its `for` has not passed yet)."""
    rules = httpx.get(f"{stack.prometheus.url}/api/v1/rules", timeout=30).json()
    evaluated = [rule for group in rules["data"]["groups"] for rule in group["rules"]]
    assert len(evaluated) == 18
    assert [rule["name"] for rule in evaluated if rule["health"] != "ok"] == []
    _until(lambda: "ErrorBudgetBurnFast" in _alerts(stack))
    assert _alerts(stack)["ErrorBudgetBurnFast"] == "pending"
    assert "ReadinessFailing" not in _alerts(stack)
    # The job rules read the worker's series: every export succeeded, none waits.
    assert {"JobsFailing", "JobQueueStale"}.isdisjoint(_alerts(stack))
    assert _job_rules_have_series(stack)


def _job_rules_have_series(stack: Stack) -> bool:
    """Each job alert's expression without its threshold answers with the worker's series (a
    rule over a series that is missing would evaluate "ok" and never fire)."""
    rules = httpx.get(f"{stack.prometheus.url}/api/v1/rules", timeout=30).json()
    jobs = next(group for group in rules["data"]["groups"] if group["name"] == "service-jobs")
    for rule in jobs["rules"]:
        expr, threshold = rule["query"].rsplit(">", 1)
        float(threshold)  # the comparison stripped is the last one, with a number
        if not stack.query(expr):
            return False
    return bool(jobs["rules"])


def _alerts(stack: Stack) -> dict[str, str]:
    alerts = httpx.get(f"{stack.prometheus.url}/api/v1/alerts", timeout=30).json()
    return {alert["labels"]["alertname"]: alert["state"] for alert in alerts["data"]["alerts"]}


def _panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _as_query(expr: str) -> str:
    """The panel's query as Grafana would send it for this job and a 1-minute rate window."""
    return expr.replace("$__rate_interval", "1m").replace("$job", JOB)


@pytest.mark.parametrize("panel", _panels(), ids=lambda panel: panel["title"])
def test_every_dashboard_query_answers_with_series(stack: Stack, panel: dict[str, Any]) -> None:
    assert panel["targets"], panel["title"]
    for target in panel["targets"]:
        expr = _as_query(target["expr"])
        assert "$" not in expr, f"an unknown variable in {expr}"
        result = stack.query(expr, at=stack.load.ended + 2)  # an error fails in `query`
        assert result, f"{panel['title']}: no series for {expr}"
