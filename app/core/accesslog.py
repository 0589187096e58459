"""The access log: one line per answered request.

With `JSON_LOG=false` (development) an access line is a loguru record like any other, in
`LOGURU_FORMAT`. With `JSON_LOG=true` (production) the request only queues a tuple: a timer
on the serving loop turns what queued up into JSON lines of the service's schema
(`app.core.logging.json_line`, without `function` and `line`) and logs them as one record, so
every sink (stdout, the saved files) still gets them through loguru. A loguru record per
request cost as much CPU as the whole request of a health probe (bench/RESULTS.md).

Lines reach the sinks within `GATHER_SECONDS` of the answer; `flush_access_log` writes what
is pending (the lifespan calls it on shutdown, and it runs at exit).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring

from loguru import logger
from starlette.types import Scope

from app.core import logging as service_logging

ACCESS_LOGGER_NAME = "app.core.accesslog"

# (unix time, client (host, port) or None, method, path, status, duration in ms, request id):
# what the request knows, formatted only when the batch is written
AccessEntry = tuple[float, tuple[str, int] | None, str, str, int, float, str]

_access_logger = logger.bind(kind="access")  # bound once, not per request
# Lines wait this long for more to share their record: under load one record and one write
# for many lines, and a line reaches the sinks at most this much after its answer.
GATHER_SECONDS = 0.005


def access_message(client: str, method: str, path: str, status: int, duration_ms: float) -> str:
    return f'{client} "{method} {path}" {status} {duration_ms:.1f}ms'


def client_address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


def log_access(scope: Scope, status: int, duration_ms: float, request_id: str) -> None:
    """Log one answered request (called once per request by the request-context middleware)."""
    method: str = scope["method"]
    path: str = scope["path"]
    if service_logging.json_lines():
        if service_logging.info_enabled():
            entry = (
                time.time(),
                scope.get("client"),
                method,
                path,
                status,
                duration_ms,
                request_id,
            )
            _pending.add(entry)
        return
    client = client_address(scope.get("client"))
    # Keyword arguments land in the record's `extra`; the path goes in as an argument, never
    # into the format string, so braces in it are harmless.
    _access_logger.info(  # noqa: PLE1205 (loguru braces, not std logging)
        "{}",
        access_message(client, method, path, status, duration_ms),
        request_id=request_id,
        method=method,
        path=path,
        status=status,
        duration_ms=round(duration_ms, 2),
        client=client,
    )


# Methods as servers pass them: plain tokens, written into a line as they are. Anything
# else is escaped like every other text from the request.
_PLAIN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# One line in the JSON schema of every other line (see `json_line`), filled by one `%`.
_JSON_ACCESS_LINE = (
    '{"time": "%s.%03d+00:00", "level": "INFO", "message": "%s \\"%s %s\\" %d %.1fms", '
    '"logger": "' + ACCESS_LOGGER_NAME + '", "process": %d, "request_id": "%s", '
    '"kind": "access", "method": "%s", "path": "%s", "status": %d, "duration_ms": %.2f, '
    '"client": "%s"}'
)
# Escaped texts kept for reuse, at most this many of each kind (then forgotten and begun anew)
TEXTS_REMEMBERED = 1024


def _json_text(text: str) -> str:
    """`text` escaped for a JSON string, without the quotes around it."""
    return encode_basestring(text)[1:-1]


class LineTexts:
    """What lines share, made once: the `YYYY-MM-DDTHH:MM:SS` of the current second, and
    the escaped texts of the paths and client addresses seen lately (a keep-alive client
    sends many requests from one address, and most requests are for a few paths)."""

    def __init__(self) -> None:
        self.second = -1
        self.second_text = ""
        self.clients: dict[tuple[str, int], str] = {}
        self.paths: dict[str, str] = {}

    def set_second(self, second: int) -> None:
        self.second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self.second = second

    def client(self, peer: tuple[str, int]) -> str:
        text = self.clients.get(peer)
        if text is None:
            if len(self.clients) >= TEXTS_REMEMBERED:
                self.clients.clear()
            text = self.clients[peer] = _json_text(f"{peer[0]}:{peer[1]}")
        return text

    def path(self, path: str) -> str:
        text = self.paths.get(path)
        if text is None:
            if len(self.paths) >= TEXTS_REMEMBERED:
                self.paths.clear()
            text = self.paths[path] = _json_text(path)
        return text


def json_access_line(entry: AccessEntry, pid: int, texts: LineTexts) -> str:
    """One access line in the JSON schema of every other line (see `json_line`).

    Built with as few steps as it takes: every line of a busy worker goes through here.
    The texts from the request (path, client address, an unusual method) are escaped once
    each and used in both the message and their own fields; JSON escaping is character by
    character, so the message is exactly `access_message`'s text escaped. The request id
    needs none: the middleware made it or accepted it only in `[A-Za-z0-9._:-]`.
    `duration_ms` is written with two decimals.
    """
    when, peer, method, path, status, duration_ms, request_id = entry
    client = texts.client(peer) if peer else "-"
    path = texts.path(path)
    if method not in _PLAIN_METHODS:
        method = _json_text(method)
    second = int(when)
    if second != texts.second:
        texts.set_second(second)
    return _JSON_ACCESS_LINE % (
        texts.second_text,
        (when - second) * 1000,
        client,
        method,
        path,
        status,
        duration_ms,
        pid,
        request_id,
        method,
        path,
        status,
        duration_ms,
        client,
    )


class _PendingLines:
    """The access entries of the last few milliseconds, written as one record by a timer on
    the serving loop: no thread, so no thread switch or GIL hand-over per batch."""

    def __init__(self) -> None:
        self._entries: list[AccessEntry] = []
        self._timer: asyncio.TimerHandle | None = None
        # The loop's timer, the lifespan and `atexit` may each flush, not always on one thread
        self._lock = threading.Lock()
        self._texts = LineTexts()

    def add(self, entry: AccessEntry) -> None:
        """Queue one entry (on the serving loop, once per request: without a lock, which
        would cost a tenth of the line). An entry appended while a flush runs lands in the
        list it swaps out, which it writes, or in the new one, which finds no timer (the
        flush drops it first) and starts one."""
        self._entries.append(entry)
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop to wait on: write it now
            return
        self._timer = loop.call_later(GATHER_SECONDS, self.flush)

    def flush(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            entries, self._entries = self._entries, []
            if not entries:
                return
            pid = os.getpid()
            lines = "\n".join(json_access_line(entry, pid, self._texts) for entry in entries)
        service_logging.log_formatted_lines(lines)


_pending = _PendingLines()
atexit.register(_pending.flush)


def flush_access_log() -> None:
    """Write every access line queued so far (the lifespan calls it on shutdown)."""
    _pending.flush()
