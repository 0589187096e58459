"""Oversized requests are refused before their body is read into memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.security.conftest import AppFactory

LIMIT = 4096
CHUNK = 1024


class Stream:
    """A chunked request body that remembers how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"x" * CHUNK


async def test_declared_length_over_limit_is_refused_unread(app_factory: AppFactory) -> None:
    async with app_factory(MAX_BODY_BYTES=LIMIT) as (_, client):
        response = await client.post("/api/v1/probe/raw", content=b"x" * (LIMIT + 1))
        again = await client.get("/health/live")
    body = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in body["detail"]
    assert again.status_code == 200


async def test_body_at_the_limit_passes(app_factory: AppFactory) -> None:
    async with app_factory(MAX_BODY_BYTES=LIMIT) as (_, client):
        response = await client.post("/api/v1/probe/raw", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"received": LIMIT}


async def test_chunked_body_is_cut_off_as_it_streams(app_factory: AppFactory) -> None:
    stream = Stream(total=10 * 1024 * 1024)
    async with app_factory(MAX_BODY_BYTES=LIMIT) as (_, client):
        response = await client.post("/api/v1/probe/raw", content=stream)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "payload_too_large")
    # Refused one chunk past the limit: the 10 MB were never pulled, let alone buffered.
    assert stream.pulled <= LIMIT + CHUNK


async def test_chunked_json_body_under_the_limit_reaches_the_route(
    app_factory: AppFactory,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"text": '
        yield b'"hello"}'

    async with app_factory(MAX_BODY_BYTES=LIMIT) as (_, client):
        response = await client.post(
            "/api/v1/probe/echo", content=body(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json() == {"text": "hello"}


async def test_chunked_json_body_over_the_limit_is_refused(app_factory: AppFactory) -> None:
    stream = Stream(total=LIMIT * 4)
    async with app_factory(MAX_BODY_BYTES=LIMIT) as (_, client):
        response = await client.post(
            "/api/v1/probe/echo", content=stream, headers={"Content-Type": "application/json"}
        )
    assert_problem(response, 413, "payload_too_large")


async def test_oversized_header_block_is_refused(app_factory: AppFactory) -> None:
    async with app_factory(MAX_HEADER_BYTES=2048) as (_, client):
        response = await client.get("/health/live", headers={"X-Padding": "p" * 4096})
        fine = await client.get("/health/live", headers={"X-Padding": "p" * 512})
    assert_problem(response, 431, "headers_too_large")
    assert fine.status_code == 200


async def test_non_numeric_content_length_is_a_bad_request(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/version", content=b"abc", headers={"Content-Length": "3x"}
    )
    assert_problem(response, 400, "bad_request")
