"""The one error envelope (RFC 9457 problem details) and every handler that produces it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core.logging import current_trace_ids, request_id_var

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid input: where it is and what is wrong with it (never its value)."""

    field: str
    message: str
    type: str


class Problem(BaseModel):
    """The error envelope every failed request gets."""

    type: str = Field(description="URI reference naming the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="Stable, machine-readable error code")
    request_id: str
    trace_id: str | None = Field(default=None, description="With tracing on: the trace")
    span_id: str | None = Field(default=None, description="With tracing on: the request's span")
    errors: list[FieldError] | None = None


class AppError(Exception):
    """Base of every error a service raises on purpose; knows its status and stable code."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # The request's writes are committed before this error answers: a refusal that records
    # something (a replayed refresh token revoking its session) must not be rolled back.
    keeps_changes: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class ConflictError(AppError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class UnauthorizedError(AppError):
    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str | None = None, *, scheme: str = "Bearer"):
        super().__init__(detail, headers={"WWW-Authenticate": scheme})


class ForbiddenError(AppError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class PreconditionFailedError(AppError):
    status_code = 412
    code = "precondition_failed"
    title = "Precondition failed"


class ServiceUnavailableError(AppError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "database_unavailable"
    title = "Database unavailable"


# Codes where the status's own name (`HTTPStatus(...).name`, lower-cased) is not ours.
_CODES = {401: "not_authenticated", 413: "payload_too_large", 422: "validation_error"}
_CODES |= {429: "rate_limited", 500: "internal_error"}


def describe_status(status: int) -> tuple[str, str]:
    """(stable code, title) of an HTTP status."""
    try:
        known = HTTPStatus(status)
    except ValueError:
        return f"http_{status}", "Error"
    return _CODES.get(status) or known.name.lower(), known.phrase


def problem_response(
    request: Request,
    error: AppError | None = None,
    *,
    status: int = 500,
    code: str = "internal_error",
    title: str = "Internal server error",
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope for `error`, or for the status and code given: the only place an error
    body is made."""
    if error is not None:
        status, code, title = error.status_code, error.code, error.title
        detail, headers = error.detail, error.headers
    trace_id, span_id = current_trace_ids() or (None, None)
    problem = Problem(
        type=f"urn:{_settings(request, 'SERVICE_CODE', 'service')}:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        request_id=request_id_of(request),
        trace_id=trace_id,
        span_id=span_id,
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _settings(request: Request, name: str, default: Any) -> Any:
    settings = getattr(request.app.state, "settings", None) if "app" in request.scope else None
    return getattr(settings, name, default)


def request_id_of(request: Request) -> str:
    # The catch-all handler runs outside our middleware, after its contextvar is reset.
    request_id = request.scope.get("state", {}).get("request_id")
    return request_id if isinstance(request_id, str) else request_id_var.get()


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101
    return problem_response(request, exc)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: FastAPI makes one route per method, so
    Starlette's own `Allow` would name only the first (RFC 9110 section 15.5.6 wants all)."""
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    return [
        method
        for method in methods
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code, title = describe_status(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem_response(
        request, status=exc.status_code, code=code, title=title, detail=detail, headers=headers
    )


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors without their `input` (it could echo a password) or `ctx`."""
    return [
        FieldError(
            field=".".join(str(part) for part in item.get("loc", ())),
            message=str(item.get("msg", "invalid value")),
            type=str(item.get("type", "value_error")),
        )
        for item in raw
        if isinstance(item, Mapping)
    ]


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = validation_errors(exc.errors())
    return problem_response(
        request,
        status=422,
        code="validation_error",
        title="Request validation failed",
        detail=f"{len(errors)} invalid input(s)",
        errors=errors,
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the traceback with the request id; say nothing of internals in prod."""
    logger.bind(request_id=request_id_of(request)).opt(exception=exc).error(
        "unhandled error on {} {}", request.method, request.url.path
    )
    is_prod = _settings(request, "is_prod", True)
    return problem_response(request, detail=None if is_prod else f"{type(exc).__name__}: {exc}")


_DATABASE_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (sa_exc.TimeoutError, 503, "database_busy", "Database busy: no connection free in time"),
    (sa_exc.IntegrityError, 409, "conflict", "The change conflicts with existing data"),
    (sa_exc.DataError, 422, "invalid_data", "The database refused a value as invalid"),
    (sa_exc.OperationalError, 503, "database_unavailable", "Database unavailable"),
    (sa_exc.InterfaceError, 503, "database_unavailable", "Database unavailable"),
)
# SQLSTATE classes saying the database cannot serve now, whatever the driver's exception
# class: 08 connection, 53 insufficient resources, 57 operator intervention.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def _database_error_answer(exc: Exception) -> tuple[int, str, str] | None:
    for kind, status, code, title in _DATABASE_ERRORS:
        if isinstance(exc, kind):
            return status, code, title
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
            return 503, DatabaseUnavailableError.code, DatabaseUnavailableError.title
    return None


# One log line a second while the database keeps failing, with the count of those left out.
_database_log = {"last": -1.0, "left_out": 0.0}


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database failures a service did not translate: a clear 4xx/503, never a bare 500."""
    answer = _database_error_answer(exc)
    if answer is None:
        return await handle_unexpected_error(request, exc)
    status, code, title = answer
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    now = time.monotonic()
    if now - _database_log["last"] < 1:
        _database_log["left_out"] += 1
    else:
        logger.warning(
            "database error on {} {}: {} {} ({:.0f} more not logged since the last line)",
            request.method,
            request.url.path,
            type(cause).__name__,
            cause if status == 503 else "",
            _database_log["left_out"],
        )
        _database_log.update(last=now, left_out=0)
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem_response(request, status=status, code=code, title=title, headers=headers)


def register_error_handlers(app: FastAPI) -> None:
    """Every error, ours or the framework's, leaves in the same envelope."""
    app.add_exception_handler(AppError, handle_app_error)
    for kind, *_ in _DATABASE_ERRORS:
        app.add_exception_handler(kind, handle_database_error)
    app.add_exception_handler(sa_exc.DBAPIError, handle_database_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route can answer with."""
    return {
        status: {
            "model": Problem,
            "description": describe_status(status)[1],
            "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for status in statuses
    }


_PROBLEM_REF = "#/components/schemas/Problem"
# Responses every route can answer with (the middleware answers 400/413/429/431 before a
# route runs; 500 is the last resort).
PROBLEM_RESPONSES = problem_responses(400, 413, 422, 429, 431, 500)


def document_problem_media_type(openapi: dict[str, Any]) -> dict[str, Any]:
    """Errors are `application/problem+json`, not the `application/json` FastAPI files them as."""
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for status, response in responses.items():
                content = response.get("content") or {}
                entry = content.get("application/json", {})
                if str(status)[:1] in {"4", "5"} and entry.get("schema", {}).get("$ref") == (
                    _PROBLEM_REF
                ):
                    content[PROBLEM_JSON] = content.pop("application/json")
    return openapi
