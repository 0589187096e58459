"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs several times the CPU per request)."""

from __future__ import annotations

import re
import uuid
from time import perf_counter
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.accesslog import log_access
from app.core.errors import AppError, problem_response
from app.core.logging import request_id_var
from app.core.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
SERVER_TIMING_HEADER = b"server-timing"
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def _request_facts(scope: Scope) -> tuple[str | None, bool]:
    """The caller's `X-Request-ID` when it is short and plain (else None: we make our own),
    and whether the request carries credentials."""
    inbound: bytes | None = None
    authenticated = False
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and inbound is None:
            inbound = value
        elif name in _AUTH_HEADERS:
            authenticated = True
    if inbound is not None and _SANE_REQUEST_ID.match(inbound):
        return inbound.decode("ascii"), authenticated
    return None, authenticated


class RequestContextMiddleware:
    """The outermost layer: request id (accepted or made, echoed), `Server-Timing`, security
    headers, metrics and one access line. Outside Starlette's error middleware, so even a
    last-resort 500 carries them and is counted and logged once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        security: SecurityHeaders | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.security = security or SecurityHeaders()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbound, authenticated = _request_facts(scope)
        request_id = inbound or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = perf_counter()
        status = 0
        security_headers = self.security.for_path(scope["path"])
        metrics = self.metrics
        method = metrics.request_started(scope["method"]) if metrics is not None else ""

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode("ascii")),
                    (SERVER_TIMING_HEADER, b"app;dur=%.1f" % ((perf_counter() - started) * 1000)),
                    *security_headers,
                ]
                if authenticated and not any(name == _CACHE_CONTROL for name, _ in headers):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except Exception:
            if status == 0:
                raise
            # The last-resort handler already answered and logged it; don't log it twice.
        finally:
            seconds = perf_counter() - started
            answered = status or 500
            if metrics is not None:
                metrics.answered(method, metrics.route_label(scope), answered, seconds)
            if self.access_log:
                log_access(scope, answered, seconds * 1000, request_id)
            request_id_var.reset(token)


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc are served from this service (no CDN): their pages need our own scripts,
# styles and images, the inline start-up script and styles both write, and ReDoc's blob worker.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
DOCS_PATHS = ("/docs", "/redoc")
PROBE_PATH_PREFIX = "/health/"
_AUTH_HEADERS = frozenset({b"authorization", b"x-token", b"x-api-key"})
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")

Header = tuple[bytes, bytes]


class SecurityHeaders:
    """Headers that make browsers and caches handle every response safely (requests with
    credentials also get `Cache-Control: no-store` unless the route chose its own caching)."""

    def __init__(self, *, hsts_seconds: int = 0) -> None:
        common: list[Header] = [(b"x-content-type-options", b"nosniff")]
        common += [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
        if hsts_seconds > 0:
            hsts = f"max-age={hsts_seconds}; includeSubDomains".encode()
            common.append((b"strict-transport-security", hsts))
        self.api_headers = (*common, (b"content-security-policy", API_CSP.encode()))
        # Cross-Origin-Opener-Policy acts only on documents: the docs pages are our only ones.
        self.docs_headers = (*common, (b"content-security-policy", DOCS_CSP.encode()))
        self.docs_headers += ((b"cross-origin-opener-policy", b"same-origin"),)

    def for_path(self, path: str) -> tuple[Header, ...]:
        is_docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
        return self.docs_headers if is_docs else self.api_headers


class HeadersTooLargeError(AppError):
    status_code = 431
    code = "headers_too_large"
    title = "Request header fields too large"


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "payload_too_large"
    title = "Request body too large"


class InvalidHostError(AppError):
    code = "invalid_host"
    title = "Invalid host header"


async def send_problem(
    scope: Scope, send: Send, error: AppError | None = None, **fields: Any
) -> None:
    """Answer from middleware in the one error envelope (`errors.problem_response`)."""

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await problem_response(Request(scope), error, **fields)(scope, no_body, send)


class OverloadedError(AppError):
    status_code = 503
    code = "overloaded"
    title = "Too many requests in progress"


class LoadSheddingMiddleware:
    """At most `limit` requests in progress in this worker: the next ones get 503 with
    `Retry-After` at once, so the accepted ones keep a bounded latency. Probes are exempt."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PROBE_PATH_PREFIX):
            await self.app(scope, receive, send)
        elif self.in_progress >= self.limit:
            detail = f"this worker is serving {self.limit} requests; retry shortly"
            await send_problem(scope, send, OverloadedError(detail, headers={"Retry-After": "1"}))
        else:
            self.in_progress += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.in_progress -= 1


class CorsRefusedError(AppError):
    code = "cors_refused"
    title = "Cross-origin request refused"


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the one error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        kept = {k: v for k, v in response.headers.items() if k.startswith(("access-", "vary"))}
        return _ProblemOnSend(CorsRefusedError(bytes(response.body).decode(), headers=kept))


class _ProblemOnSend(Response):
    """An error answered when sent, with the scope of the request it answers."""

    def __init__(self, error: AppError) -> None:
        super().__init__(status_code=error.status_code)
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_problem(scope, send, self.error)


class RequestLimitsMiddleware:
    """Oversized requests refused before their body is read: headers → 431, a declared length
    → 413 at once, a chunked body → 413 the moment it passes the limit (one chunk held)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_headers = max_header_bytes

    def _check_headers(self, scope: Scope) -> AppError | bool:
        """A refusal for a header block we won't take, else whether the body needs no counting:
        a fine length is declared, or there is no body (HTTP/1.1: neither a length nor
        `Transfer-Encoding`)."""
        size = 0
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if size > self.max_headers:
            return HeadersTooLargeError(f"the request headers exceed {self.max_headers} bytes")
        if declared is None:
            return not chunked
        if not declared.isdigit():
            return AppError("invalid Content-Length")
        if int(declared) > self.max_body:
            return self._too_large()
        return True

    def _too_large(self) -> AppError:
        return PayloadTooLargeError(f"the request body exceeds {self.max_body} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        checked = self._check_headers(scope)
        if isinstance(checked, AppError):
            await send_problem(scope, send, checked)
        elif checked:
            # The server delivers no more than the declared length (or no body at all).
            await self.app(scope, receive, send)
        else:
            await self._call_counting(scope, receive, send)

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        response_started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    refused = True
                    if not response_started:
                        await send_problem(scope, send, self._too_large())
                    # The app sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # We already answered 413; whatever the app says now goes nowhere.
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


class TrustedHostMiddleware:
    """400 to a `Host` not in `TRUSTED_HOSTS` (`*.example.com`: any subdomain): no poisoned
    absolute URLs. Probes are exempt (a kubelet calls them by the pod's address)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = tuple(host.lower() for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"].startswith(
            PROBE_PATH_PREFIX
        ):
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
                break
        # Drop the port; an IPv6 literal keeps its brackets: [::1]:8000 -> [::1]
        host = host[: host.find("]") + 1] if host.startswith("[") else host.split(":", 1)[0]
        if any(p == host or (p[:2] == "*." and host.endswith(p[1:])) for p in self.allowed):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            detail = "the Host header is not one this service answers to"
            await send_problem(scope, send, InvalidHostError(detail))
