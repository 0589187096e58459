"""Loguru as the only log sink, std logging routed into it, `extra.request_id` on every record.
`setup_logging` is idempotent (gunicorn runs it again on SIGHUP)."""

from __future__ import annotations

import inspect
import json
import logging
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

    from app.core.config import Settings

# The id of the request being served (the request-context middleware sets it), or `-`.
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
ROUTED_LOGGERS: tuple[str, ...] = ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error")
ROUTED_LOGGERS += ("gunicorn.access", "sqlalchemy", "sqlalchemy.engine", "alembic", "asyncio")
SILENCED_LOGGERS = ("uvicorn.access",)
_NOT_EXTRA = frozenset({"request_id", "logger_name"})


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
    extra = record["extra"]
    if extra.get("request_id") is None:
        extra["request_id"] = request_id_var.get()
    if _state.trace_ids is not None and "trace_id" not in extra:
        ids = _state.trace_ids()
        if ids is not None:
            extra["trace_id"], extra["span_id"] = ids


TraceIds = tuple[str, str]


def use_trace_ids(source: Callable[[], TraceIds | None] | None) -> None:
    """Stamp `trace_id` and `span_id` (from `source`: tracing is on) on every line logged
    inside a span; None stops it."""
    _state.trace_ids = source


def current_trace_ids() -> TraceIds | None:
    """The current (trace id, span id) in hex, or None: outside a span, or tracing off."""
    return _state.trace_ids() if _state.trace_ids is not None else None


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
        if key not in _NOT_EXTRA and not key.startswith("_"):
            payload[key] = value
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        payload["exception"] = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
    return json.dumps(payload, default=str, ensure_ascii=False)


def _json_format(record: Record) -> str:
    # Built once per record, however many sinks write it.
    if "_json" not in record["extra"]:
        record["extra"]["_json"] = json_line(record)
    return "{extra[_json]}\n"


def _human_format(fmt: str) -> Callable[[Record], str]:
    template = fmt + "\n{exception}"  # what loguru appends to a format given as text
    return lambda _record: template


def log_file_path(settings: Settings) -> str:
    """Dated file path: loguru fills the time fields at creation and on each rotation."""
    name = f"{settings.SERVICE_CODE}_{{time:YYYY-MM-DD}}.log"
    return str(settings.LOG_SAVE_PATH / "{time:YYYY}" / "{time:MM}" / name)


def setup_logging(
    settings: Settings, *, stream: TextIO | None = None, with_file_sink: bool | None = None
) -> None:
    """(Re)configure loguru and route std logging into it; safe to run again (SIGHUP).
    `with_file_sink=None` follows `SAVE`."""
    with _state.lock:
        logger.remove()
        _state.file_handler_id = None
        logger.configure(extra={"request_id": None}, patcher=_add_request_id)
        formatter = _json_format if settings.JSON_LOG else _human_format(settings.LOGURU_FORMAT)
        logger.add(
            stream or sys.stdout,
            level=settings.LEVEL,
            format=formatter,
            colorize=False if settings.JSON_LOG else None,
            backtrace=not settings.is_prod,
            diagnose=not settings.is_prod,  # variable values in tracebacks may be secrets
        )
        if with_file_sink if with_file_sink is not None else settings.SAVE:
            add_file_sink(settings)
        route_std_logging(settings)


def reset_logging() -> None:
    """Loguru with no sinks and this module's defaults, as before any `setup_logging` (tests)."""
    with _state.lock:
        logger.remove()
        logger.configure(extra={"request_id": "-"}, patcher=None)
        _state.file_handler_id = None


class _LoggingState:
    """This process's saved-file handler, and where a gunicorn worker relays its lines."""

    def __init__(self) -> None:
        # Held while handlers are swapped and while a relayed line is written: a SIGHUP's
        # reconfiguration never drops a line between remove() and add().
        self.lock = threading.RLock()
        self.relay_write: Callable[[str], None] | None = None
        self.file_handler_id: int | None = None
        self.file_settings: Settings | None = None
        self.trace_ids: Callable[[], TraceIds | None] | None = None


_state = _LoggingState()
RELAYED_LEVEL = "RELAYED"
_RELAYED_NO = 1  # below TRACE: no stream sink ever shows a relayed line


def add_file_sink(settings: Settings) -> int:
    """The dated, rotated, compressed file sink; in a gunicorn worker, the relay to the master,
    which writes the workers' lines through its own (`app.serving.logrelay`): one writer."""
    with _state.lock:
        level = logger.level(settings.LEVEL).no
        line_format = (
            _json_format
            if settings.JSON_LOG
            else _human_format(re.sub(r"</?[a-z]+>", "", settings.LOGURU_FORMAT))
        )
        diagnose = not settings.is_prod
        if _state.relay_write is not None:
            handler_id = logger.add(
                _state.relay_write,
                level=level,
                format=line_format,
                colorize=False,
                backtrace=diagnose,
                diagnose=diagnose,
            )
        else:
            _check_writable(settings.LOG_SAVE_PATH)
            _ensure_relayed_level()

            def saved_format(record: Record) -> str:
                if "relayed_line" in record["extra"]:
                    return "{extra[relayed_line]}"
                return line_format(record)

            handler_id = logger.add(
                log_file_path(settings),
                level=_RELAYED_NO,
                format=saved_format,
                filter=lambda record: record["level"].no >= level or _is_relayed(record),
                rotation=settings.ROTATION,
                retention=settings.RETENTION,
                compression=settings.COMPRESSION,
                encoding="utf-8",
                colorize=False,
                backtrace=diagnose,
                diagnose=diagnose,
            )
        _state.file_handler_id = handler_id
        _state.file_settings = settings
        return handler_id


def _check_writable(folder: Path) -> None:
    """A log folder that cannot be written stops the start with one line naming the setting."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        sys.stderr.write(
            f"invalid configuration: LOG_SAVE_PATH: cannot write to {folder}: {error}\n"
        )
        raise SystemExit(2) from None


def _ensure_relayed_level() -> None:
    try:
        logger.level(RELAYED_LEVEL)
    except ValueError:
        logger.level(RELAYED_LEVEL, no=_RELAYED_NO)


def _is_relayed(record: Record) -> bool:
    return record["level"].no == _RELAYED_NO and "relayed_line" in record["extra"]


def write_relayed_line(line: str) -> None:
    """Write a line a worker formatted (ending in a newline) to the saved files as it is."""
    with _state.lock:
        logger.bind(relayed_line=line).log(RELAYED_LEVEL, "")


def use_relay(write: Callable[[str], None]) -> None:
    """In a new gunicorn worker, right after the fork (before it logs anything): the file
    handler the fork copied from the master is swapped for the relay to it."""
    _state.lock = threading.RLock()  # the master's reader thread may have held the old one
    with _state.lock:
        _state.relay_write = write
        if _state.file_handler_id is not None:
            logger.remove(_state.file_handler_id)
            _state.file_handler_id = None
        if _state.file_settings is not None:
            add_file_sink(_state.file_settings)


def std_level(level: str) -> int:
    """Loguru's level name as a std-logging level (TRACE and SUCCESS have no std twin)."""
    number: int = {"TRACE": logging.DEBUG, "SUCCESS": logging.INFO}.get(level) or (
        logging.getLevelName(level)
    )
    return number


def route_std_logging(settings: Settings) -> None:
    """Send every std-logging logger we know of (and the root) through loguru."""
    handler = InterceptHandler()
    logging.basicConfig(handlers=[handler], level=std_level(settings.LEVEL), force=True)
    for name in (*ROUTED_LOGGERS, *SILENCED_LOGGERS):
        std = logging.getLogger(name)
        std.handlers = [handler] if name in ROUTED_LOGGERS else []
        std.propagate = False
        std.disabled = name in SILENCED_LOGGERS
    sql_level = logging.INFO if settings.DB_ECHO else logging.WARNING
    logging.getLogger("sqlalchemy.engine").setLevel(sql_level)
