"""The Markdown report: medians over rounds, per-round ratios to baselines, the targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.scenarios import (
    APP,
    CACHE_HIT,
    CACHE_MISS,
    CREATE_AUTH,
    LIST_AUTH,
    LOG_OFF,
    LOG_ON,
    READ_AUTH,
    READ_LOG_OFF,
    READ_LOG_ON,
    Scenario,
)

LOG_PAIRS = {"/health/live": (LOG_ON, LOG_OFF), "item read": (READ_LOG_ON, READ_LOG_OFF)}

Key = tuple[str, str]
Results = dict[Key, list[dict[str, float]]]
RSS_TARGET_MIB = 70.0
START_TARGET_S = 1.5
LOG_COST_TARGET = 0.15
CACHE_HIT_TARGET = 0.8  # the cache stays only where a hit costs at most this share of a read


@dataclass
class Run:
    """Everything one benchmark run measured."""

    kinds: list[str]
    plan: list[list[Scenario]]
    results: Results
    startup: dict[Key, list[tuple[float, float]]]  # (wall s, CPU s) per start
    idle: dict[Key, list[tuple[float, float]]]  # (RSS, PSS) MiB per worker
    after: dict[Key, list[tuple[float, float]]]
    fast_paths: dict[Key, str]  # "uvloop+httptools" when the workers loaded both
    rounds: int
    seconds: int
    smoke: bool


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(results: Results, kind: str, mine: str, theirs: str, key: str) -> float:
    """Median over rounds of mine / theirs, each round's two runs measured back to back."""
    a_runs = results.get((kind, mine), [])
    b_runs = results.get((kind, theirs), [])
    return median([a[key] / b[key] for a, b in zip(a_runs, b_runs, strict=False) if b[key]])


def error_failures(results: Results) -> list[str]:
    return [
        f"{kind}: {name}"
        for (kind, name), runs in results.items()
        if sum(r["errors"] for r in runs) or not sum(r["requests"] for r in runs)
    ]


def render(run: Run) -> str:
    what = (
        "smoke: one short run each"
        if run.smoke
        else f"medians of {run.rounds} rounds of {run.seconds} s"
    )
    scenarios = [
        f"### Scenarios ({what})",
        "",
        "| server | scenario | req/s | p50 ms | p99 ms | errors | CPU µs/req "
        "| CPU vs baseline | PostgreSQL CPU µs/req | its vs baseline | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *scenario_rows(run),
        "",
    ]
    if run.smoke:  # too short and too cold for any timing to mean something
        return "\n".join(scenarios)
    return "\n".join(
        [
            *scenarios,
            "### Servers (RSS / PSS per worker, MiB)",
            "",
            "| server | loop + parser | start → first 200: wall s | its CPU s | idle RSS "
            "| idle PSS | after load RSS | after load PSS |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
            *server_rows(run),
            "",
            "### Logging: JSON access log + SAVE vs logging off, same run",
            "",
            "| server, request | throughput | CPU per request |",
            "|---|---:|---:|",
            *logging_rows(run),
            "",
            "### Targets",
            "",
            "| target | measured | met |",
            "|---|---|---|",
            *target_rows(run),
            "",
        ]
    )


def scenario_rows(run: Run) -> list[str]:
    rows = []
    for kind in run.kinds:
        for scenario in (s for group in run.plan for s in group):
            runs = run.results.get((kind, scenario.name), [])
            if not runs:
                continue
            shown, database, target = "—", "—", ""
            if scenario.baseline and (kind, scenario.baseline) in run.results:
                times = paired(run.results, kind, scenario.name, scenario.baseline, "cpu_us")
                base = scenario.baseline
                kind_of = next((w for w in ("logging off", "bare", "page 1") if w in base), "as is")
                shown = f"{times:.2f}x {kind_of}"
                pg_times = paired(run.results, kind, scenario.name, base, "pg_cpu_us")
                database = "—" if math.isnan(pg_times) else f"{pg_times:.2f}x"
                if scenario.target:
                    target = f"≤ {scenario.target}x {mark(times <= scenario.target)}"
            pg_cpu = median([r.get("pg_cpu_us", float("nan")) for r in runs])
            rows.append(
                f"| {kind} | {scenario.name} | {median([r['rps'] for r in runs]):,.0f} "
                f"| {median([r['p50'] for r in runs]):.2f} "
                f"| {median([r['p99'] for r in runs]):.2f} "
                f"| {sum(int(r['errors']) for r in runs)} "
                f"| {median([r['cpu_us'] for r in runs]):,.0f} | {shown} "
                f"| {pg_cpu:,.0f} | {database} | {target} |"
            )
    return rows


def server_rows(run: Run) -> list[str]:
    rows = []
    for (kind, role), starts in run.startup.items():
        idle = run.idle.get((kind, role), [])
        after = run.after.get((kind, role), [])
        rows.append(
            f"| {kind} {role} | {run.fast_paths.get((kind, role), '?')} "
            f"| {median([w for w, _ in starts]):.2f} ({len(starts)} starts) "
            f"| {median([c for _, c in starts]):.2f} "
            f"| {listed([r for r, _ in idle])} | {listed([p for _, p in idle])} "
            f"| {listed([r for r, _ in after])} | {listed([p for _, p in after])} |"
        )
    return rows


def log_costs(run: Run) -> dict[str, tuple[float, float]]:
    """Per "kind on request": (throughput lost, CPU per request ratio), logging on vs off."""
    costs = {}
    for kind in run.kinds:
        for what, (on, off) in LOG_PAIRS.items():
            if (kind, on) in run.results and (kind, off) in run.results:
                throughput = paired(run.results, kind, on, off, "rps")
                cpu = paired(run.results, kind, on, off, "cpu_us")
                costs[f"{kind} on {what}"] = (1 - throughput, cpu)
    return costs


def logging_rows(run: Run) -> list[str]:
    return [
        f"| {where} | {1 - lost:.2f}x ({lost:+.0%} cost) | {cpu:.2f}x |"
        for where, (lost, cpu) in log_costs(run).items()
    ]


def target_rows(run: Run) -> list[str]:
    rows = []
    scenarios = {s.name: s for group in run.plan for s in group}
    labels = {
        READ_AUTH: "auth item read",
        LIST_AUTH: "auth list of 20",
        CREATE_AUTH: "auth create",
    }
    for name, label in labels.items():
        scenario = scenarios.get(name)
        if scenario is None or scenario.baseline is None or scenario.target is None:
            continue
        values = {k: paired(run.results, k, name, scenario.baseline, "cpu_us") for k in run.kinds}
        shown = ", ".join(f"{k} {v:.2f}x" for k, v in values.items())
        ok = all(v <= scenario.target for v in values.values())
        rows.append(
            f"| {label} ≤ {scenario.target}x bare SQLAlchemy (CPU/req) | {shown} | {mark(ok)} |"
        )
    deep = [s for s in scenarios.values() if s.baseline and "page deep" in s.name]
    if deep:
        target = deep[0].target or 0.0
        deep_ratios = {
            (k, s.name, measured): paired(run.results, k, s.name, s.baseline or "", measured)
            for k in run.kinds
            for s in deep
            for measured in ("cpu_us", "pg_cpu_us")
        }
        worst = {
            key: max(v for (_, _, k2), v in deep_ratios.items() if k2 == key)
            for key in ("cpu_us", "pg_cpu_us")
        }
        ok = all(v <= target for v in deep_ratios.values())
        rows.append(
            f"| deep page ≤ {target}x page 1, every sort and order (CPU/req) "
            f"| worst: service {worst['cpu_us']:.2f}x, PostgreSQL {worst['pg_cpu_us']:.2f}x "
            f"| {mark(ok)} |"
        )
    scenario = scenarios.get(CACHE_HIT)
    if scenario is not None and scenario.baseline:
        hit = {k: paired(run.results, k, CACHE_HIT, scenario.baseline, "cpu_us") for k in run.kinds}
        shown = ", ".join(f"{k} {v:.2f}x" for k, v in hit.items())
        miss_scenario = scenarios.get(CACHE_MISS)
        if miss_scenario is not None and miss_scenario.baseline:
            miss = {
                k: paired(run.results, k, CACHE_MISS, miss_scenario.baseline, "cpu_us")
                for k in run.kinds
            }
            shown += "; a miss: " + ", ".join(f"{k} {v:.2f}x" for k, v in miss.items())
        ok = all(v <= CACHE_HIT_TARGET for v in hit.values())
        rows.append(
            f"| item read cache hit ≤ {CACHE_HIT_TARGET}x the read without cache (CPU/req) "
            f"| {shown} | {mark(ok)} |"
        )
    rss = {k: max([r for r, _ in run.idle.get((k, APP), [])] or [0.0]) for k in run.kinds}
    shown = ", ".join(f"{k} {v:.1f} MiB" for k, v in rss.items())
    ok = all(v <= RSS_TARGET_MIB for v in rss.values())
    rows.append(f"| RSS per worker idle ≤ {RSS_TARGET_MIB:.0f} MiB | {shown} | {mark(ok)} |")
    if ("gunicorn", APP) in run.startup:
        start = median([wall for wall, _ in run.startup["gunicorn", APP]])
        ok = start <= START_TARGET_S
        rows.append(
            f"| gunicorn start → first 200 ≤ {START_TARGET_S} s | {start:.2f} s | {mark(ok)} |"
        )
    errors = sum(int(r["errors"]) for runs in run.results.values() for r in runs)
    rows.append(f"| zero errors in every scenario | {errors} errors | {mark(errors == 0)} |")
    costs = log_costs(run)
    if costs:
        shown = ", ".join(f"{k} {lost:+.0%}" for k, (lost, _) in costs.items())
        ok = all(lost <= LOG_COST_TARGET for lost, _ in costs.values())
        rows.append(f"| JSON access log + SAVE costs ≤ 15% throughput | {shown} | {mark(ok)} |")
    return rows


def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def listed(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values) or "—"
