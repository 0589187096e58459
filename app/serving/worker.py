"""The gunicorn worker class: uvicorn-worker's, plus what it leaves out.

- gunicorn's `graceful_timeout` reaches uvicorn (a little shorter), so in-flight requests
  finish and the lifespan shutdown still runs before gunicorn's SIGKILL.
- `lifespan="on"`: a failing startup stops the worker instead of serving without a database.
- Shutdown (SIGTERM, SIGHUP, max_requests recycling) drains instead of cutting
  (`DrainingServer`).
"""

from __future__ import annotations

import asyncio
import functools
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


def _is_fresh(connection: Any) -> bool:
    """Accepted, but its first request has not begun to arrive (the client is about to send)."""
    return getattr(connection, "cycle", None) is None and getattr(connection, "scope", None) is None


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

    uvicorn stops listening and closes idle keep-alive connections at once, losing requests
    just sent on them and connections still queued on the listener. Here, for
    `DRAIN_SECONDS` the worker keeps listening and answers with `Connection: close`, so
    clients move to connections another worker accepts; then it adopts the listen queue,
    stops listening, answers what it holds and closes connections that stayed idle.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = self.server_state
        state.default_headers = [*state.default_headers, (b"connection", b"close")]
        loop = asyncio.get_running_loop()
        drain = min(DRAIN_SECONDS, (self.config.timeout_graceful_shutdown or 4.0) / 4)
        deadline = loop.time() + drain
        connection: Any
        while loop.time() < deadline and not self.force_exit:
            for connection in list(state.connections):
                if _is_busy(connection):
                    connection.cycle.keep_alive = False  # closes once its response is sent
            await asyncio.sleep(_POLL_SECONDS)

        await self._adopt_backlog(sockets or [])
        for server in self.servers:
            server.close()  # also closes the listening sockets it was given
        hard_deadline = loop.time() + drain
        while state.connections and not self.force_exit:
            waiting = False
            for connection in list(state.connections):
                if _is_busy(connection):
                    connection.cycle.keep_alive = False
                elif loop.time() < hard_deadline and (
                    _is_fresh(connection) or _has_unread_bytes(connection)
                ):
                    waiting = True  # a request has arrived or is coming: it gets answered
                else:
                    connection.transport.close()
            if not waiting:
                break
            await asyncio.sleep(_POLL_SECONDS)
        await super().shutdown(sockets=None)

    async def _adopt_backlog(self, listeners: list[socket.socket]) -> None:
        """Serve the connections waiting in the listen queue: closing the last listener
        would reset them, with the requests their clients already sent."""
        loop = asyncio.get_running_loop()
        protocol_class: Any = self.config.http_protocol_class  # uvicorn's H11/HttpTools class
        protocol = functools.partial(
            protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        for listener in listeners:
            while True:
                try:
                    connection, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break  # the queue is empty
                except OSError:
                    break  # the listener is already closed
                connection.setblocking(False)
                await loop.connect_accepted_socket(protocol, connection)


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
        """uvicorn-worker's `_serve`, with the draining server; a clean end is counted (the
        master counts every end: `app.serving.options.worker_exits`)."""
        from prometheus_client import Counter

        clean_exits = Counter("worker_clean_exits", "Workers that ended by shutting down.")
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        clean_exits.inc()
