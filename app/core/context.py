"""Per-request context that log lines and error bodies read (the request id)."""

from contextvars import ContextVar

NO_REQUEST_ID = "-"

request_id_var: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST_ID)


def current_request_id() -> str:
    """The id of the request being served, or `-` outside a request."""
    return request_id_var.get()
