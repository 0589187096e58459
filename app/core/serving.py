"""Production serving under gunicorn: its options from Settings, its logger and its hooks.

`gunicorn.conf.py` only assigns what this module computes, so every choice is a plain
function with a test. It runs in the gunicorn master before the app is imported: it must
not import prometheus_client (which picks its mode at import) nor open anything.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging

from app.core import logrelay
from app.core.config import Settings, get_settings
from app.core.logging import setup_logging, std_level

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 (memory, not a shared temp file)
WORKER_CLASS = "app.core.worker.ServiceWorker"
LOGGER_CLASS = "app.core.serving.LoguruLogger"
APP = "app.main:app"


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> float | None:
    """CPUs allowed by a cgroup v2 quota (a container's `--cpus`), or None without one."""
    try:
        quota, period = path.read_text(encoding="ascii").split()
        return int(quota) / int(period)
    except (OSError, ValueError):  # no cgroup v2 file, or "max" (no quota)
        return None


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = cpus or 1
    limit = cgroup_cpu_limit(cpu_max)
    if limit is not None:
        count = min(count, max(1, math.ceil(limit)))
    return max(1, count)


def worker_count(settings: Settings, cpus: int | None = None) -> int:
    """WORKERS, or one async worker per usable CPU (one event loop keeps one core busy)."""
    return settings.WORKERS or cpus or usable_cpus()


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Every gunicorn setting this service uses; docs/serving.md explains each one."""
    control_socket = settings.GUNICORN_CONTROL_SOCKET
    return {
        "wsgi_app": APP,
        "bind": [bind_address(settings.HOST, settings.PORT)],
        "workers": worker_count(settings),
        "worker_class": WORKER_CLASS,
        "timeout": settings.GUNICORN_TIMEOUT,
        "graceful_timeout": settings.GRACEFUL_TIMEOUT,
        "keepalive": settings.KEEPALIVE,
        "max_requests": settings.MAX_REQUESTS,
        "max_requests_jitter": settings.MAX_REQUESTS_JITTER if settings.MAX_REQUESTS else 0,
        "forwarded_allow_ips": ",".join(settings.FORWARDED_ALLOW_IPS),
        # The master imports the app once and forks workers from it: a worker (re)start after
        # a SIGHUP, max_requests or a crash takes milliseconds instead of a ~2 s import, and
        # workers share the imported code's memory. Safe because importing the app opens
        # nothing: the engine and its pool are made in the lifespan, in each worker, on its
        # own event loop. The price: SIGHUP restarts workers with the code and settings the
        # master imported; new code or a changed .env needs a restart (a rolling deploy).
        "preload_app": True,
        # Heartbeat files in memory: a slow or read-only disk cannot make workers look dead.
        "worker_tmp_dir": str(SHARED_MEMORY) if SHARED_MEMORY.is_dir() else None,
        # gunicorn >= 25.1 opens a control socket under $HOME by default, which fails on a
        # read-only root filesystem: only where asked for.
        "control_socket_disable": control_socket is None,
        **({"control_socket": str(control_socket)} if control_socket else {}),
        "logger_class": LOGGER_CLASS,
        "accesslog": None,  # RequestContextMiddleware writes the one access line per request
        "errorlog": "-",
        "loglevel": logging.getLevelName(std_level(settings.LEVEL)).lower(),
        "capture_output": False,
        "proc_name": settings.SERVICE_CODE,
    }


class LoguruLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, re-routed: its error and access loggers go through loguru, in the
    service's format (JSON when asked). gunicorn calls `setup` at start and on SIGHUP;
    `setup_logging` is idempotent, and the saved files keep their one writer (the master)."""

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
        """Choose it (PROMETHEUS_MULTIPROC_DIR, else a fresh one in memory) and export it,
        before anything imports prometheus_client: it picks its mode once, at import."""
        if self.path is None:
            if settings.PROMETHEUS_MULTIPROC_DIR is not None:
                self.path = settings.PROMETHEUS_MULTIPROC_DIR
            else:
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
    """In the master, once: a clean metrics folder."""
    metrics_folder.clean()


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: its live gauges (requests in progress, build info) stop counting."""
    from prometheus_client import multiprocess

    if metrics_folder.path is not None:
        multiprocess.mark_process_dead(worker.pid, str(metrics_folder.path))  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """After the last worker: write every relayed log line, then tidy up."""
    logrelay.stop()
    metrics_folder.remove_if_created()
