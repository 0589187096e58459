"""Servers that tests (and scripts/loadcheck.py) run as processes on 127.0.0.1.

Each gets a port from the OS, so parallel runs never collide (a port taken all the same means
another start), and is polled once it listens there itself, so no poll reaches a stranger. It
is ready once its health endpoint answers: a loaded machine may make that slow (READY_TIMEOUT
is generous), but a server that exits fails the start at once, with its output. Stopped by its
PID, never by name.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT = 120.0  # a start slower than this is a hang, not load
POLL_INTERVAL = 0.1
BIND_ATTEMPTS = 5
# What uvicorn ("address already in use") and gunicorn ("Connection in use") print when the
# port was taken between asking the OS for it and binding it.
PORT_TAKEN = re.compile(r"address already in use|connection in use", re.IGNORECASE)

Command = Callable[[int], tuple[list[str], dict[str, str]]]
"""Given the port to bind: the server's argv and its whole environment."""


class ServerStartError(RuntimeError):
    """The server exited, or did not get ready in time; the message holds its output."""


@dataclass
class Server:
    """One server process we started, addressed only by its PID."""

    process: subprocess.Popen[bytes]
    port: int
    output: Path
    answered: int = 0  # health responses received while waiting for it to get ready

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def output_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def workers(self) -> list[int]:
        """The PIDs of its child processes (gunicorn's workers)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def signal(self, sig: signal.Signals) -> None:
        if self.is_running():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Its exit status, or None when it still runs after `timeout` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL for it and its workers if it has not exited in `timeout` s."""
        if not self.is_running():
            return
        self.signal(signal.SIGTERM)
        if self.wait(timeout) is None:
            for pid in self.workers():
                os.kill(pid, signal.SIGKILL)
            self.signal(signal.SIGKILL)
            self.process.wait(10)


def reserve_port() -> int:
    """A port the OS hands out now, left in TIME_WAIT on our side of a closed connection.

    For about a minute the OS then gives that port to no other `bind(("", 0))`, while a
    server binding it with SO_REUSEADDR (uvicorn and gunicorn set it) gets it: the window in
    which another process could take it shrinks to almost nothing. `start_server` retries
    with a new port if it was taken all the same.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(1)
        port: int = listener.getsockname()[1]
        with socket.create_connection((HOST, port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end waits in TIME_WAIT
            client.recv(1)
    return port


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens, for as long as the block runs: we hold it
    bound without listening, so connections to it are refused and nobody else can take it."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        port: int = holder.getsockname()[1]
        yield port


def answers_ok(_server: Server, response: httpx.Response) -> bool:
    return response.status_code == 200


def start_server(
    command: Command,
    *,
    cwd: Path,
    output: Path,
    health: str = "/health/ready",
    is_ready: Callable[[Server, httpx.Response], bool] = answers_ok,
    timeout: float = READY_TIMEOUT,
    port: int | None = None,
    new_session: bool = False,
) -> Server:
    """Start `command` on a free port (or `port`) and return once `health` answers as
    `is_ready` wants. If the port was taken before the server bound it, start again on
    another; any other exit raises ServerStartError with the server's output."""
    attempts = 1 if port is not None else BIND_ATTEMPTS
    for _ in range(attempts):
        chosen = port if port is not None else reserve_port()
        argv, env = command(chosen)
        with output.open("wb") as sink:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                argv,
                cwd=cwd,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,
            )
        server = Server(process, chosen, output)
        try:
            if _wait_ready(server, health, is_ready, timeout):
                return server
        except BaseException:
            server.stop()
            raise
        server.stop()
        if not PORT_TAKEN.search(server.output_text()):
            raise ServerStartError(f"{argv} exited with {process.returncode}:\n{_tail(server)}")
    raise ServerStartError(f"the port was taken {attempts} times:\n{_tail(server)}")


def _wait_ready(
    server: Server,
    health: str,
    is_ready: Callable[[Server, httpx.Response], bool],
    timeout: float,
) -> bool:
    """True once ready; False when the process exited, or found its port taken, first."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, trust_env=False) as http:  # no proxy for loopback
        while (remaining := deadline - time.monotonic()) > 0:
            if not server.is_running() or PORT_TAKEN.search(server.output_text()):
                return False
            if not _listens(server):  # yet: a request now could reach whoever holds the port
                time.sleep(POLL_INTERVAL)
                continue
            try:
                # A request the server has read is counted and logged by it: wait for its
                # answer as long as the start may take, so `answered` misses none.
                response = http.get(health, timeout=httpx.Timeout(remaining, connect=2))
            except httpx.TransportError:
                time.sleep(POLL_INTERVAL)
                continue
            server.answered += 1
            if is_ready(server, response):
                return True
            time.sleep(POLL_INTERVAL)
    raise ServerStartError(f"not ready within {timeout:.0f} s:\n{_tail(server)}")


def _listens(server: Server) -> bool:
    """Whether the server's process (or one of its workers) listens on its port. Where
    /proc/net/tcp cannot be read, it cannot be told: then the health answer decides."""
    listeners = _listening_sockets(server.port)
    if listeners is None:
        return True
    return any(listeners & _sockets_of(pid) for pid in (server.pid, *server.workers()))


def _listening_sockets(port: int) -> set[str] | None:
    """The inodes of the sockets listening on `port` (state 0A in /proc/net/tcp*)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            if table.endswith("6"):
                continue  # no IPv6 here
            return None
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _sockets_of(pid: int) -> set[str]:
    """The inodes of the sockets process `pid` holds open."""
    inodes: set[str] = set()
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tail(server: Server, characters: int = 20_000) -> str:
    return server.output_text()[-characters:]


def uvicorn_command(env: Mapping[str, str]) -> Command:
    """uvicorn serving app.main:app from this checkout with only `env` (plus what it needs
    to run) in its environment, so the developer's shell settings never leak into a test."""
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}

    def build(port: int) -> tuple[list[str], dict[str, str]]:
        environment = {key: value for key, value in os.environ.items() if key in keep}
        environment.update(
            {"PYTHONPATH": str(ROOT), "LEVEL": "WARNING", "ACCESS_LOG": "false", **env}
        )
        argv = [sys.executable, "-m", "uvicorn", "app.main:app", "--no-access-log"]
        return [*argv, "--host", HOST, "--port", str(port)], environment

    return build


@contextmanager
def uvicorn_server(workdir: Path, env: Mapping[str, str]) -> Iterator[Server]:
    """A real uvicorn serving the app with these settings; stopped by its PID afterwards."""
    server = start_server(uvicorn_command(env), cwd=workdir, output=workdir / "uvicorn.log")
    try:
        yield server
    finally:
        server.stop()
