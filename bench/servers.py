"""Start a server (gunicorn with 2 uvicorn workers, or uvicorn alone) and watch its processes."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench import procs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUNICORN_WORKERS = 2
READY_PATH = "/health/live"


@dataclass(frozen=True)
class ServerSpec:
    """What to serve (an ASGI target), how (gunicorn or uvicorn), and with which environment."""

    name: str
    target: str
    kind: str  # "gunicorn" | "uvicorn"
    env: dict[str, str] = field(default_factory=dict)
    wrap: list[str] = field(default_factory=list)  # a command the server runs under (valgrind)

    def command(self, port: int, bin_dir: Path = BIN) -> list[str]:
        return [*self.wrap, *self._server_command(port, bin_dir)]

    def _server_command(self, port: int, bin_dir: Path) -> list[str]:
        if self.kind == "uvicorn":
            return [
                str(bin_dir / "uvicorn"),
                self.target,
                "--host=127.0.0.1",
                f"--port={port}",
                "--workers=1",
                "--loop=uvloop",
                "--http=httptools",
                "--no-access-log",
                "--log-level=warning",
            ]
        command = [str(bin_dir / "gunicorn")]
        # Every gunicorn server, baselines too, runs with the service's gunicorn.conf.py (same
        # worker class, keep-alive, preload), so only the app differs. gunicorn would read that
        # file from the working directory anyway.
        if (ROOT / "gunicorn.conf.py").exists():
            command += ["-c", str(ROOT / "gunicorn.conf.py")]
        else:
            command += [
                "--worker-class=uvicorn_worker.UvicornWorker",
                "--graceful-timeout=5",
                "--log-level=warning",
            ]
        return [*command, f"--workers={GUNICORN_WORKERS}", f"--bind=127.0.0.1:{port}", self.target]


class Server:
    """One running server: its PID, the time it took to answer, its CPU and memory."""

    def __init__(
        self,
        spec: ServerSpec,
        port: int,
        base_env: dict[str, str],
        logs: Path,
        bin_dir: Path = BIN,
    ) -> None:
        self.spec = spec
        self.port = port
        self.bin_dir = bin_dir
        self.env = {
            **os.environ,
            **base_env,
            **spec.env,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "WORKERS": str(GUNICORN_WORKERS if spec.kind == "gunicorn" else 1),
            # Each server its own metrics folder: a gunicorn master empties it at start.
            "PROMETHEUS_MULTIPROC_DIR": str(logs / "metrics" / spec.name),
        }
        Path(self.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{spec.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self.startup_seconds = 0.0
        self.startup_cpu_seconds = 0.0  # what the start cost, whatever else the machine does
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.spec.name} was not launched")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the first 200 from /health/live; returns the seconds it took."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        self._log = self.log_path.open("ab")
        self._started = time.perf_counter()
        self.process = subprocess.Popen(
            self.spec.command(self.port, self.bin_dir),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> float:
        if self.process is None:
            raise RuntimeError(f"{self.spec.name} was not launched")
        deadline = self._started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited early; see {self.log_path}")
            if self._answers():
                self.startup_seconds = time.perf_counter() - self._started
                self.startup_cpu_seconds = self.cpu_seconds()
                return self.startup_seconds
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not answer in {timeout}s; see {self.log_path}")

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        try:
            connection.request("GET", READY_PATH)
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def wait_workers(self, timeout: float = 30.0) -> None:
        """Until every gunicorn worker has booted (a worker answers only once its app loaded)."""
        if self.spec.kind != "gunicorn":
            return
        deadline = time.perf_counter() + timeout
        while len(self.workers()) < GUNICORN_WORKERS and time.perf_counter() < deadline:
            time.sleep(0.05)

    def settle(self, timeout: float = 10.0) -> None:
        """Until the workers' memory stops growing (a worker answers before its peer booted)."""
        deadline = time.perf_counter() + timeout
        last = self.rss_per_worker()
        while time.perf_counter() < deadline:
            time.sleep(0.25)
            now = self.rss_per_worker()
            steady = all(abs(a - b) < 0.1 for a, b in zip(now, last, strict=False))
            if len(now) == len(last) and steady:
                return
            last = now

    def fast_paths(self) -> str:
        """Which of uvloop and httptools every worker has loaded (the event loop and HTTP
        parser in C that uvicorn's "auto" picks when they are installed)."""
        names = ("uvloop", "httptools")
        workers = self.workers()
        found = [n for n in names if workers and all(procs.maps_library(p, n) for p in workers)]
        return "+".join(found) or "neither"

    def workers(self) -> list[int]:
        """The processes that serve requests: gunicorn's children, or the uvicorn process."""
        if self.spec.kind == "uvicorn":
            return [self.pid]
        return procs.children(self.pid)

    def cpu_seconds(self) -> float:
        return procs.tree_cpu_seconds(self.pid)

    def rss_per_worker(self) -> list[float]:
        return [procs.rss_mib(p) for p in self.workers()]

    def memory_per_worker(self) -> list[tuple[float, float]]:
        """(RSS, PSS) in MiB of each worker."""
        return [(procs.rss_mib(p), procs.pss_mib(p)) for p in self.workers()]

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
