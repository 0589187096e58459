"""Loguru as the only log sink; std logging (uvicorn, gunicorn, sqlalchemy, alembic) routed into it.

`setup_logging` is idempotent: gunicorn runs it again on SIGHUP and tests run it for
several app instances. Every record gets `extra.request_id` from the request context.
Under gunicorn the saved files have one writer, the master (see `app.core.logrelay`).
"""

from __future__ import annotations

import atexit
import inspect
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from app.core.context import current_request_id

if TYPE_CHECKING:
    from loguru import Record

    from app.core.config import Settings

ROUTED_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "gunicorn",
    "gunicorn.error",
    "gunicorn.access",
    "sqlalchemy",
    "sqlalchemy.engine",
    "alembic",
    "asyncio",
)
SILENCED_LOGGERS = ("uvicorn.access",)
_STANDARD_EXTRA = {"request_id"}


class InterceptHandler(logging.Handler):
    """Hands every std-logging record to loguru, keeping its level and caller."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Find the caller outside the logging module, so loguru names the right place.
        frame: FrameType | None = inspect.currentframe()
        depth = 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.bind(logger_name=record.name).opt(depth=depth, exception=record.exc_info).log(
            level, record.getMessage()
        )


def _add_request_id(record: Record) -> None:
    if record["extra"].get("request_id") is None:
        record["extra"]["request_id"] = current_request_id()


def json_line(record: Record) -> str:
    """One JSON object for one record: stable keys first, then the record's extras."""
    payload: dict[str, Any] = {
        "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["extra"].get("logger_name", record["name"]),
        "function": record["function"],
        "line": record["line"],
        "process": record["process"].id,
        "request_id": record["extra"].get("request_id", "-"),
    }
    for key, value in record["extra"].items():
        if key not in _STANDARD_EXTRA and key != "logger_name" and not key.startswith("_"):
            payload[key] = value
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        import traceback

        payload["exception"] = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
    return json.dumps(payload, default=str, ensure_ascii=False)


def _json_format(record: Record) -> str:
    # Every sink gets the same record: the line is built once, not once per sink (with
    # SAVE=true the stdout and the file sink both write it).
    if "_json" not in record["extra"]:
        record["extra"]["_json"] = json_line(record)
    return "{extra[_json]}\n"


def _human_format(fmt: str) -> Callable[[Record], str]:
    template = fmt + "\n{exception}"

    def render(record: Record) -> str:
        return template

    return render


def log_file_path(settings: Settings) -> str:
    """Dated file path: loguru fills the time fields at creation and on each rotation."""
    name = f"{settings.SERVICE_CODE}_{{time:YYYY-MM-DD}}.log"
    return str(settings.LOG_SAVE_PATH / "{time:YYYY}" / "{time:MM}" / name)


def setup_logging(
    settings: Settings,
    *,
    stream: TextIO | None = None,
    with_file_sink: bool | None = None,
) -> None:
    """(Re)configure loguru and route std logging into it; safe to run again (SIGHUP).

    `with_file_sink=None` follows `SAVE`. In a gunicorn worker the "file sink" sends each
    line to the master, the one process that writes and rotates the files (`app.core.logrelay`).
    """
    with _state.lock:
        logger.remove()
        _state.file_handler_ids = []
        logger.configure(extra={"request_id": None}, patcher=_add_request_id)
        formatter: Callable[[Record], str] = (
            _json_format if settings.JSON_LOG else _human_format(settings.LOGURU_FORMAT)
        )
        diagnose = not settings.is_prod
        logger.add(
            stream or sys.stdout,
            level=settings.LEVEL,
            format=formatter,
            colorize=False if settings.JSON_LOG else None,
            backtrace=diagnose,
            diagnose=diagnose,
        )
        if with_file_sink if with_file_sink is not None else settings.SAVE:
            add_file_sink(settings)
        route_std_logging(settings)
        _state.json_lines = settings.JSON_LOG
        _state.info_enabled = logger.level(settings.LEVEL).no <= logger.level("INFO").no


def reset_logging() -> None:
    """Loguru with no sinks and this module's defaults, as before any `setup_logging` (tests)."""
    with _state.lock:
        logger.remove()
        logger.configure(extra={"request_id": "-"}, patcher=None)
        _state.file_handler_ids = []
        _state.json_lines = False
        _state.info_enabled = True


def json_lines() -> bool:
    """Whether lines are JSON (`JSON_LOG`), as of the last `setup_logging`."""
    return _state.json_lines


def info_enabled() -> bool:
    """Whether INFO lines are kept (`LEVEL` is INFO or below), as of the last `setup_logging`."""
    return _state.info_enabled


def log_formatted_lines(lines: str) -> None:
    """Log lines already formatted as JSON (no trailing newline) as one INFO record: every
    sink writes them as they are (see `_json_format`)."""
    logger.bind(_json=lines).info("")


class _LoggingState:
    """Which role this process plays for the saved files, and the handlers of that role."""

    def __init__(self) -> None:
        # Held while handlers are swapped and while a batch of lines is written, so a
        # reconfiguration (SIGHUP) never drops a line between remove() and add().
        self.lock = threading.RLock()
        self.relay_write: Callable[[str], None] | None = None
        self.writer: LineWriter | None = None
        self.file_handler_ids: list[int] = []
        self.file_settings: Settings | None = None
        self.json_lines = False
        self.info_enabled = True


_state = _LoggingState()
RELAYED_LEVEL = "RELAYED"
_RELAYED_NO = 1  # below TRACE: no stream sink ever shows a batch of saved lines
_BATCH_CHARACTERS = 256 * 1024  # one write at most: rotation by size overshoots by no more
# A writer that woke up waits this long for more lines to batch. Each wake-up of a thread
# costs the serving thread a GIL hand-over; at 2 ms, SAVE=true cost 25% of a health probe's
# CPU under load, at 20 ms 2% (bench/RESULTS.md). Lines reach the files that much later;
# everything queued is written at exit.
GATHER_SECONDS = 0.02


class LineWriter:
    """The one thread of a process that writes the saved files.

    It takes whole formatted lines from a queue (this process's own, and under gunicorn the
    workers' lines that the relay receives) and writes what has queued up as one batch
    through the file sink, which alone rotates, compresses and prunes. Why not loguru's
    `enqueue=True`: it pickles every record for its queue, which costs more CPU than the
    whole request of a health probe; and one loguru record per line in the writer would
    cost the same again. Batches cost one record and one write for all that queued.
    """

    def __init__(self) -> None:
        try:
            logger.level(RELAYED_LEVEL)
        except ValueError:
            logger.level(RELAYED_LEVEL, no=_RELAYED_NO)
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._owner_pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def is_owned_here(self) -> bool:
        return os.getpid() == self._owner_pid

    def put(self, line: str) -> None:
        self._lines.put(str(line))  # loguru's Message carries its record: keep only the text

    def _run(self) -> None:
        stopping = False
        while not stopping:
            line = self._lines.get()
            if line is None:
                return
            time.sleep(GATHER_SECONDS)  # under load: one batch for many lines
            batch = [line]
            size = len(line)
            while size < _BATCH_CHARACTERS:
                try:
                    line = self._lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    stopping = True
                    break
                batch.append(line)
                size += len(line)
            with _state.lock:
                logger.bind(relayed_line="".join(batch)).log(RELAYED_LEVEL, "")

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, then end the thread (in the owning process)."""
        if self.is_owned_here() and self._thread.is_alive():
            self._lines.put(None)
            self._thread.join(timeout)


def line_writer() -> LineWriter:
    """This process's writer of saved lines, started on first use (ended at exit)."""
    with _state.lock:
        if _state.writer is None or not _state.writer.is_owned_here():
            _state.writer = LineWriter()
            atexit.register(_state.writer.stop)
        return _state.writer


def stop_line_writer() -> None:
    """Write every saved line queued so far and end the writer (a new one starts on demand)."""
    writer = _state.writer
    if writer is not None:
        writer.stop()
        _state.writer = None


def add_file_sink(settings: Settings) -> list[int]:
    """The dated, rotated, compressed file sink, or in a gunicorn worker the relay to it."""
    with _state.lock:
        diagnose = not settings.is_prod
        # A gunicorn worker sends its formatted lines to the master; any other process hands
        # them to its own writer thread, which alone writes batches of them to the file.
        send = _state.relay_write or line_writer().put
        ids = [
            logger.add(
                send,
                level=settings.LEVEL,
                format=_file_formatter(settings),
                colorize=False,
                backtrace=diagnose,
                diagnose=diagnose,
            )
        ]
        if _state.relay_write is None:
            ids.append(
                logger.add(
                    log_file_path(settings),
                    level=_RELAYED_NO,
                    format=_batch_format,
                    filter=_is_batch_of_lines,
                    rotation=settings.ROTATION,
                    retention=settings.RETENTION,
                    compression=settings.COMPRESSION,
                    colorize=False,
                    encoding="utf-8",
                )
            )
        _state.file_handler_ids = ids
        _state.file_settings = settings
        return ids


def _file_formatter(settings: Settings) -> Callable[[Record], str]:
    if settings.JSON_LOG:
        return _json_format
    return _human_format(_strip_colors(settings.LOGURU_FORMAT))


def _batch_format(record: Record) -> str:
    # A function, not the string itself: loguru appends "\n{exception}" to string formats.
    return "{extra[relayed_line]}"


def _is_batch_of_lines(record: Record) -> bool:
    return record["level"].no == _RELAYED_NO and "relayed_line" in record["extra"]


def use_relay(write: Callable[[str], None]) -> None:
    """In a new gunicorn worker, right after the fork: file lines go to `write` from now on.

    The master's file handlers came along with the fork (its writer thread did not); they
    are swapped for the relay before this process can log anything (gunicorn logs "Booting
    worker" right after the fork).
    """
    _state.lock = threading.RLock()  # the master's writer thread may have held the old one
    with _state.lock:
        _state.relay_write = write
        _state.writer = None
        for handler_id in _state.file_handler_ids:
            logger.remove(handler_id)
        _state.file_handler_ids = []
        if _state.file_settings is not None:
            add_file_sink(_state.file_settings)


def _strip_colors(fmt: str) -> str:
    import re

    return re.sub(r"</?[a-z]+>", "", fmt)


def _std_level(level: str) -> int:
    """Loguru's level name as a std-logging level (TRACE and SUCCESS have no std twin)."""
    return {"TRACE": logging.DEBUG, "SUCCESS": logging.INFO}.get(level) or logging.getLevelName(
        level
    )


def route_std_logging(settings: Settings) -> None:
    """Send every std-logging logger we know of (and the root) through loguru."""
    handler = InterceptHandler()
    logging.basicConfig(handlers=[handler], level=_std_level(settings.LEVEL), force=True)
    for name in ROUTED_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.propagate = False
    for name in SILENCED_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = False
        std.disabled = True
    sql_level = logging.INFO if settings.DB_ECHO else logging.WARNING
    logging.getLogger("sqlalchemy.engine").setLevel(sql_level)
