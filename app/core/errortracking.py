"""Optional error tracking: with SENTRY_DSN set, every error logged with its exception (the
last-resort handler logs each unhandled one) goes to a Sentry-compatible service, tagged with
the request id and, with tracing on, the trace and span ids. Off, sentry_sdk is never imported.

Reports are taken from the log rather than from a handler of their own, so what an operator
reads in the log and in the tracker is the same event, with the same ids.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from loguru import logger

from app.core.config import Settings

if TYPE_CHECKING:
    from loguru import Message, Record

TAGS = ("request_id", "trace_id", "span_id")


class _Tracking:
    handler_id: int | None = None


_tracking = _Tracking()


def _has_exception(record: Record) -> bool:
    exception = record["exception"]
    return exception is not None and exception.value is not None


def _report(message: Message) -> None:
    import sentry_sdk

    record = message.record
    error = record["exception"].value if record["exception"] is not None else None
    if error is None:
        return
    with sentry_sdk.new_scope() as scope:
        for tag in TAGS:
            value = record["extra"].get(tag)
            if isinstance(value, str) and value != "-":
                scope.set_tag(tag, value)
        scope.set_extra("message", record["message"])
        scope.set_extra("logger", record["extra"].get("logger_name", record["name"]))
        sentry_sdk.capture_exception(error)


def start_error_tracking(settings: Settings, version: str) -> bool:
    """Start the SDK in this process (after gunicorn's fork: it runs a sending thread); False
    when SENTRY_DSN is empty."""
    dsn = settings.SENTRY_DSN.get_secret_value()
    if not dsn:
        return False
    if _tracking.handler_id is not None:
        return True
    import sentry_sdk

    options: dict[str, Any] = {
        "dsn": dsn,
        "release": version,
        "environment": settings.STATUS,
        # Only what we send: no patching of frameworks, no request bodies or user data, and no
        # variable values from the stack (they may hold secrets).
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "send_default_pii": False,
        "include_local_variables": False,
    }
    sentry_sdk.init(**options)
    _tracking.handler_id = logger.add(
        _report, level="ERROR", filter=_has_exception, format="{message}", catch=True
    )
    return True


def stop_error_tracking(timeout: float = 2.0) -> None:
    """Send what is queued (lifespan shutdown)."""
    if _tracking.handler_id is None:
        return
    import sentry_sdk

    with contextlib.suppress(ValueError):  # already gone if logging was set up again
        logger.remove(_tracking.handler_id)
    _tracking.handler_id = None
    sentry_sdk.get_client().close(timeout=timeout)
