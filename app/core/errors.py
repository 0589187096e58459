"""The one error envelope (RFC 9457 problem details) and every handler that produces it."""

from __future__ import annotations

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

from app.core.context import NO_REQUEST_ID, current_request_id

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
    errors: list[FieldError] | None = None


class AppError(Exception):
    """Base of every error a service raises on purpose; knows its status and stable code."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

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


_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def code_for_status(status: int) -> str:
    return _STATUS_CODES.get(status, f"http_{status}")


def title_for_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _request_id(request: Request) -> str:
    # The catch-all handler runs outside our middleware, after the contextvar is reset.
    state_id = getattr(request.state, "request_id", None)
    if isinstance(state_id, str):
        return state_id
    rid = current_request_id()
    return rid if rid != NO_REQUEST_ID else NO_REQUEST_ID


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    service_code: str = "service",
) -> JSONResponse:
    """Build the envelope; the only place a response body for an error is made."""
    problem = Problem(
        type=f"urn:{service_code}:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        request_id=_request_id(request),
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _service_code(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "SERVICE_CODE", "service"))


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101
    return problem_response(
        request,
        status=exc.status_code,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        service_code=_service_code(request),
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette's 405 names only the methods of the first route that matched the path, while
    FastAPI makes one route per method: `Allow` would leave out methods the resource has
    (RFC 9110 section 15.5.6 wants them all). Only 405 answers pay for this look-up.
    """
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(dict(probe))[0] == Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    detail = exc.detail if isinstance(exc.detail, str) else None
    title = title_for_status(exc.status_code)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(
        request,
        status=exc.status_code,
        code=code_for_status(exc.status_code),
        title=title,
        detail=detail if detail != title else None,
        headers=headers,
        service_code=_service_code(request),
    )


def _field_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors without their `input` (it could echo a password) or `ctx`."""
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        out.append(
            FieldError(
                field=_field_path(item.get("loc", ())),
                message=str(item.get("msg", "invalid value")),
                type=str(item.get("type", "value_error")),
            )
        )
    return out


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
        service_code=_service_code(request),
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the traceback with the request id; say nothing of internals in prod."""
    request_id = _request_id(request)
    logger.bind(request_id=request_id).opt(exception=exc).error(
        "unhandled error on {} {}", request.method, request.url.path
    )
    settings = getattr(request.app.state, "settings", None)
    is_prod = bool(getattr(settings, "is_prod", True))
    detail = None if is_prod else f"{type(exc).__name__}: {exc}"
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail=detail,
        service_code=_service_code(request),
    )


_DATABASE_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (sa_exc.TimeoutError, 503, "database_busy", "Database busy: no connection free in time"),
    (sa_exc.IntegrityError, 409, "conflict", "The change conflicts with existing data"),
    (sa_exc.DataError, 422, "invalid_data", "The database refused a value as invalid"),
    (sa_exc.OperationalError, 503, "database_unavailable", "Database unavailable"),
    (sa_exc.InterfaceError, 503, "database_unavailable", "Database unavailable"),
)
UNAVAILABLE = (503, "database_unavailable", "Database unavailable")
# SQLSTATE classes that say the database cannot serve now, whatever the driver's exception
# class: 08 connection exception, 53 insufficient resources (too many connections, disk
# full, out of memory), 57 operator intervention (shutting down, starting up). asyncpg's
# "too many clients" reaches SQLAlchemy as a plain DBAPIError.
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def _database_error_answer(exc: Exception) -> tuple[int, str, str] | None:
    for kind, status, code, title in _DATABASE_ERRORS:
        if isinstance(exc, kind):
            return status, code, title
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
            return UNAVAILABLE
    return None


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database failures a service did not translate: a clear 4xx/503, never a bare 500."""
    answer = _database_error_answer(exc)
    if answer is None:
        return await handle_unexpected_error(request, exc)
    status, code, title = answer
    logger.warning(
        "database error on {} {}: {} {}",
        request.method,
        request.url.path,
        type(exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc).__name__,
        exc.orig if isinstance(exc, sa_exc.DBAPIError) and status == 503 else "",
    )
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem_response(
        request,
        status=status,
        code=code,
        title=title,
        headers=headers,
        service_code=_service_code(request),
    )


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
            "description": title_for_status(status),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


# Responses every route can answer with, for the OpenAPI document (the middleware answers
# 400/413/429/431 before a route runs; 500 is the last resort).
PROBLEM_RESPONSES = problem_responses(400, 413, 422, 429, 431, 500)


_PROBLEM_REF = "#/components/schemas/Problem"


def document_problem_media_type(openapi: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI document that errors are `application/problem+json`.

    FastAPI files every response model under `application/json`; our error responses are sent
    as problem+json, so a client (or a schema-conformance check) would otherwise expect the
    wrong media type. Every 4xx/5xx response whose schema is the envelope is moved over.
    """
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if str(status)[:1] not in {"4", "5"} or not content:
                    continue
                json_entry = content.get("application/json", {})
                if json_entry.get("schema", {}).get("$ref") == _PROBLEM_REF:
                    del content["application/json"]
                    content[PROBLEM_JSON] = json_entry
    return openapi
