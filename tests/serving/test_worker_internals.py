"""The uvicorn and uvicorn-worker internals `app.serving.worker` drains with are still there.

pyproject bounds both packages to the minor these tests check; when a new minor is allowed,
this file says at once (and by name) which internal moved.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from app.serving.worker import ServiceWorker, _is_busy, _is_fresh


def test_the_worker_hooks_it_overrides_exist() -> None:
    assert inspect.iscoroutinefunction(UvicornWorker._serve)
    assert callable(UvicornWorker._install_sigquit_handler)
    assert isinstance(UvicornWorker.CONFIG_KWARGS, dict)
    assert set(ServiceWorker.CONFIG_KWARGS) >= {"lifespan", "access_log"}
    parameters = inspect.signature(Server.shutdown).parameters
    assert "sockets" in parameters


async def test_a_live_connection_exposes_what_the_drain_reads() -> None:
    """A real uvicorn server, a request held open in the app: its connection object must
    carry the attributes `_is_busy` / `_is_fresh` and the shutdown read."""
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        arrived.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(1000):  # uvicorn offers no event for "started"
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(arrived.wait(), 10)

        state: Any = server.server_state
        assert isinstance(state.default_headers, list)
        [connection] = list(state.connections)
        assert connection.cycle.response_complete is False
        assert connection.cycle.scope is connection.scope
        assert hasattr(connection.cycle, "keep_alive")
        assert connection.transport.get_extra_info("socket") is not None
        assert _is_busy(connection)
        assert not _is_fresh(connection)
        assert server.servers
        assert hasattr(server, "force_exit")
        assert hasattr(server.lifespan, "state")
        assert config.http_protocol_class is not None

        release.set()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        release.set()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
