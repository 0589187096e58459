"""The helper that starts servers for tests: a taken port means another start, an exit fails
the start at once with the server's output, and a closed port refuses connections."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import servers


def _static_server(folder: Path) -> servers.Command:
    """Python's own file server: it answers /health/ready with 200 once the file exists."""
    (folder / "health").mkdir()
    (folder / "health" / "ready").write_text("ok")

    def build(port: int) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", servers.HOST]
        return argv, {"PATH": "/usr/bin:/bin"}

    return build


def test_a_taken_port_means_another_start_on_a_free_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:  # listens, but never answers
        squatter.bind((servers.HOST, 0))
        squatter.listen()
        taken: int = squatter.getsockname()[1]
        offered = iter([taken])
        fresh = servers.reserve_port
        monkeypatch.setattr(servers, "reserve_port", lambda: next(offered, None) or fresh())

        server = servers.start_server(
            _static_server(tmp_path), cwd=tmp_path, output=tmp_path / "out.log"
        )
        try:
            assert server.port != taken
            assert server.answered >= 1
            assert httpx.get(f"{server.url}/health/ready", trust_env=False).text == "ok"
        finally:
            server.stop()
    assert not server.is_running()


def test_a_server_that_exits_fails_the_start_at_once_with_its_output(tmp_path: Path) -> None:
    def build(_port: int) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-c", "print('no database here'); raise SystemExit(3)"], {}

    started = time.monotonic()
    with pytest.raises(servers.ServerStartError, match="no database here"):
        servers.start_server(build, cwd=tmp_path, output=tmp_path / "out.log")
    assert time.monotonic() - started < servers.READY_TIMEOUT / 2  # not by waiting it out


def test_nothing_answers_on_a_closed_port() -> None:
    with servers.closed_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection((servers.HOST, port), timeout=5)
