"""Where a worker's time goes under one scenario's load: py-spy samples it from outside.

    python -m bench --profile "item by id (authenticated)" [--kinds uvicorn] [--seconds 10]

Prints the functions holding the most samples, by own time and including callees, and keeps
the collapsed stacks (for flame graph tools) next to the server logs.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path

from bench.load import Request, run_wrk

TOP = 25


def record(
    *, wrk: str, port: int, pid: int, request: Request, connections: int, seconds: int, out: Path
) -> str:
    py_spy = shutil.which("py-spy") or str(Path(__file__).parents[1] / ".venv/bin/py-spy")
    sampler = subprocess.Popen(
        [
            py_spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    load = threading.Thread(
        target=run_wrk,
        args=(wrk, port, request),
        kwargs={"seconds": seconds + 1, "connections": connections},
    )
    load.start()
    sampler.wait(timeout=seconds + 60)
    load.join()
    return summarize(out)


def summarize(collapsed: Path) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(TOP)]
    lines += ["", "including callees:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(TOP * 2)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "wt-bench/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"
