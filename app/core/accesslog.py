"""The access log: one loguru record per answered request, in the format of every other line
(`LOGURU_FORMAT`, or the JSON schema of `app.core.logging.json_line` with `JSON_LOG=true`)."""

from __future__ import annotations

from loguru import logger
from starlette.types import Scope

_access_logger = logger.bind(kind="access")


def access_message(client: str, method: str, path: str, status: int, duration_ms: float) -> str:
    return f'{client} "{method} {path}" {status} {duration_ms:.1f}ms'


def client_address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


def log_access(scope: Scope, status: int, duration_ms: float, request_id: str) -> None:
    """Log one answered request (the request-context middleware calls it once per request)."""
    method: str = scope["method"]
    path: str = scope["path"]
    client = client_address(scope.get("client"))
    # The message goes in as an argument, never as the format string: braces in a path are
    # harmless. Keyword arguments land in the record's `extra` (JSON fields).
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
