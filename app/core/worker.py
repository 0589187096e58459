"""The gunicorn worker class: uvicorn-worker's, plus what it leaves out.

- `graceful_timeout` reaches uvicorn as its own graceful-shutdown timeout, a little shorter,
  so in-flight requests finish and the lifespan shutdown (disposing the database pool) still
  runs before gunicorn's SIGKILL (uvicorn-worker passes only keepalive, max_requests,
  timeout and forwarded_allow_ips).
- `lifespan="on"`: a failing startup stops the worker instead of serving without a database.
- uvicorn's own access log is off: `RequestContextMiddleware` writes the one access line.
- Shutdown (SIGTERM, SIGHUP reload, max_requests recycling) drains instead of cutting: see
  `DrainingServer`.
"""

from __future__ import annotations

import asyncio
import select
import socket
import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

DRAIN_SECONDS = 1.0
_POLL_SECONDS = 0.01


def graceful_shutdown_seconds(graceful_timeout: float) -> float:
    """uvicorn's share of gunicorn's `graceful_timeout`: what is left covers the drain and the
    lifespan shutdown (2 s, or half of a short timeout)."""
    return max(graceful_timeout - 2.0, graceful_timeout / 2)


def _is_busy(connection: Any) -> bool:
    """A request is being read or answered on this connection."""
    cycle = getattr(connection, "cycle", None)
    if cycle is not None and not cycle.response_complete:
        return True
    scope = getattr(connection, "scope", None)  # headers arriving, no cycle for them yet
    return scope is not None and (cycle is None or cycle.scope is not scope)


def _has_unread_bytes(connection: Any) -> bool:
    """The client already sent more (a request the loop has not read yet, or its EOF)."""
    try:
        sock = connection.transport.get_extra_info("socket")
        fileno = sock.fileno() if sock is not None else -1
        return fileno >= 0 and bool(select.select([fileno], [], [], 0)[0])
    except (OSError, ValueError, AttributeError):
        return False


class DrainingServer(Server):
    """uvicorn's server whose shutdown answers every request that has reached it.

    uvicorn closes idle keep-alive connections the moment shutdown starts; a request the
    client sent on one just before (or that sits unread in the socket) is then lost, which
    under load shows up as connection errors on every reload or recycling. Here, after the
    listener closes, every response says `Connection: close` and idle connections stay open
    for `DRAIN_SECONDS`, so a busy client's next request is still answered and its
    connection then closes cleanly. Only connections idle for the whole drain, with nothing
    unread, are closed by the server.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # also closes the listening sockets it was given
        state = self.server_state
        state.default_headers = [*state.default_headers, (b"connection", b"close")]
        loop = asyncio.get_running_loop()
        drain = min(DRAIN_SECONDS, (self.config.timeout_graceful_shutdown or 4.0) / 4)
        deadline = loop.time() + drain
        hard_deadline = deadline + drain
        while state.connections and not self.force_exit:
            waiting = False
            connection: Any
            for connection in list(state.connections):
                if _is_busy(connection):
                    connection.cycle.keep_alive = False  # closes once its response is sent
                elif _has_unread_bytes(connection) and loop.time() < hard_deadline:
                    waiting = True
                elif loop.time() >= deadline:
                    connection.transport.close()
            if loop.time() >= deadline and not waiting:
                break
            await asyncio.sleep(_POLL_SECONDS)
        await super().shutdown(sockets=None)


class ServiceWorker(UvicornWorker):  # type: ignore[misc]
    """The worker named by gunicorn.conf.py (`worker_class`)."""

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012 (uvicorn-worker's own interface)
        "loop": "auto",
        "http": "auto",
        "lifespan": "on",
        "access_log": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = graceful_shutdown_seconds(self.cfg.graceful_timeout)

    async def _serve(self) -> None:
        """uvicorn-worker's `_serve`, with the draining server."""
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
