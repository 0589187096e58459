"""What the kernel knows about the server processes: CPU time and resident memory from /proc."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's list, since any thread may have forked)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except FileNotFoundError:
        return []
    return sorted(set(found))


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids = [pid]
    for child in children(pid):
        pids += tree(child)
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def reaped_children_cpu_seconds(pid: int) -> float:
    """CPU time of `pid`'s children that have exited and been waited for (cutime + cstime):
    a gunicorn worker recycled or restarted during a run still counts."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid`, its live descendants, and the children it has reaped."""
    return sum(cpu_seconds(p) for p in tree(pid)) + reaped_children_cpu_seconds(pid)


def rss_mib(pid: int) -> float:
    """Resident set size of one process, in MiB."""
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except FileNotFoundError:
        return 0.0
    return resident * PAGE_SIZE / 2**20


def maps_library(pid: int, name: str) -> bool:
    """Whether the process has a shared library whose path contains `name` mapped."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, PermissionError):
        return False


def pss_mib(pid: int) -> float:
    """Proportional set size in MiB: pages shared with other processes (a preloaded master's
    code, say) count by their share, so summing PSS over workers gives the real total."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, PermissionError):
        pass
    return 0.0


def backends(database: str) -> list[int]:
    """PostgreSQL's backend processes serving `database` on this machine, found by the title
    each sets itself (`postgres: <cluster>: <user> <database> <client> <state>`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found.append(int(entry.name))
    return found


def backends_cpu_seconds(database: str) -> float:
    """CPU time of the backends serving `database` now: the pools keep their connections, so
    the difference over a run is what PostgreSQL spent on that run's statements."""
    return sum(cpu_seconds(pid) for pid in backends(database))
