"""gunicorn's options from Settings, its logger and its hooks, for `gunicorn.conf.py`.

It runs in the master before the app is imported: it must not import prometheus_client (which
picks its mode at import) nor open anything.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging

from app.core.config import Settings, get_settings
from app.core.logging import setup_logging, std_level
from app.serving import logrelay

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 (memory, not a shared temp file)


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> float | None:
    """CPUs allowed by a cgroup v2 quota (a container's `--cpus`), or None without one."""
    try:
        quota, period = path.read_text(encoding="ascii").split()
        return int(quota) / int(period)
    except (OSError, ValueError):  # no cgroup v2 file, or "max" (no quota)
        return None


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = cgroup_cpu_limit(cpu_max)
    return cpus if limit is None else max(1, min(cpus, math.ceil(limit)))


def worker_count(settings: Settings, cpus: int | None = None) -> int:
    """WORKERS, or one async worker per usable CPU (one event loop keeps one core busy)."""
    return settings.WORKERS or cpus or usable_cpus()


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Every gunicorn setting this service uses; docs/serving.md explains each one."""
    control_socket = settings.GUNICORN_CONTROL_SOCKET
    return {
        "wsgi_app": "app.main:app",
        "bind": [bind_address(settings.HOST, settings.PORT)],
        "workers": worker_count(settings),
        "worker_class": "app.serving.worker.ServiceWorker",
        "timeout": settings.GUNICORN_TIMEOUT,
        "graceful_timeout": settings.GRACEFUL_TIMEOUT,
        "keepalive": settings.KEEPALIVE,
        "max_requests": settings.MAX_REQUESTS,
        "max_requests_jitter": settings.MAX_REQUESTS_JITTER if settings.MAX_REQUESTS else 0,
        "forwarded_allow_ips": ",".join(settings.FORWARDED_ALLOW_IPS),
        "preload_app": True,  # safe: importing the app opens nothing
        # Heartbeat files in memory: a slow or read-only disk cannot make workers look dead.
        "worker_tmp_dir": str(SHARED_MEMORY) if SHARED_MEMORY.is_dir() else None,
        # gunicorn >= 25.1 opens one under $HOME by default: fails on a read-only root.
        "control_socket_disable": control_socket is None,
        **({"control_socket": str(control_socket)} if control_socket else {}),
        "logger_class": "app.serving.options.LoguruLogger",
        "accesslog": None,  # RequestContextMiddleware writes the one access line per request
        "errorlog": "-",
        "loglevel": logging.getLevelName(std_level(settings.LEVEL)).lower(),
        "capture_output": False,
        "proc_name": settings.SERVICE_CODE,
    }


class LoguruLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger through loguru, in the service's format; `setup` runs again on SIGHUP."""

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self._access_log_enabled = False
        settings = get_settings()
        if settings.SAVE:
            logrelay.start()
        setup_logging(settings)
        self.loglevel = std_level(settings.LEVEL)
        self.error_log.setLevel(self.loglevel)
        self.access_log.setLevel(logging.INFO)


class MetricsFolder:
    """The folder prometheus_client's multiprocess mode shares between workers."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.created = False

    def prepare(self, settings: Settings) -> Path:
        """PROMETHEUS_MULTIPROC_DIR or a fresh folder in memory, exported before the import."""
        self.path = self.path or settings.PROMETHEUS_MULTIPROC_DIR
        if self.path is None:
            parent = SHARED_MEMORY if SHARED_MEMORY.is_dir() else None
            prefix = f"{settings.SERVICE_CODE}-metrics-"
            self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            self.created = True
        self.path.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self.path)
        return self.path

    def clean(self) -> None:
        """Values of an earlier run must not count: remove its files (ours only)."""
        if self.path is not None:
            for stale in self.path.glob("*.db"):
                stale.unlink(missing_ok=True)

    def remove_if_created(self) -> None:
        if self.created and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


metrics_folder = MetricsFolder()


def on_starting(server: Any) -> None:
    """In the master, once: a clean metrics folder, and the exit counts at zero (so the first
    exit is an increase a rule can see)."""
    metrics_folder.clean()
    for reason in WORKER_EXIT_REASONS:
        worker_exits().labels(reason)


WORKER_EXIT_REASONS = ("timeout", "exit")


@functools.cache
def worker_exits() -> Any:
    """Counted by the master (imported late: after gunicorn.conf.py chose multiprocess mode).
    Workers count their clean exits themselves (`app.serving.worker`); the difference is the
    workers that crashed or were killed."""
    from prometheus_client import Counter

    return Counter(
        "worker_exits", "Worker processes that ended, by why the master saw.", ("reason",)
    )


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: counted, and its live gauges (requests in progress, build info, pool,
    memory) stop counting."""
    from prometheus_client import multiprocess

    worker_exits().labels("timeout" if getattr(worker, "aborted", False) else "exit").inc()
    if metrics_folder.path is not None:
        multiprocess.mark_process_dead(worker.pid, str(metrics_folder.path))  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """After the last worker: write every relayed log line, then tidy up."""
    logrelay.stop()
    metrics_folder.remove_if_created()
