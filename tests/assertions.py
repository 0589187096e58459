"""Common assertions every router test uses."""

from __future__ import annotations

from typing import Any

from httpx import Response

PROBLEM_KEYS = {"type", "title", "status", "code", "request_id"}


def assert_problem(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the one error envelope, with this status (and code, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_no_secrets(payload: Any) -> None:
    """No response may carry a password hash or a password, at any depth."""
    text = str(payload)
    for forbidden in ("hashed_password", "password_hash", "$argon2"):
        assert forbidden not in text, f"{forbidden!r} leaked in {text[:200]}"
