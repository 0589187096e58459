"""Hostile request bodies and headers: each gets a 4xx in the error envelope, the service keeps
answering, and no row is half-written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select

from app.items.models import Item
from tests.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD as PASSWORD
from tests.factories import Account, account
from tests.servers import Server, uvicorn_server

ITEMS = "/api/v1/items"
USERS = "/api/v1/users"
JSON = {"Content-Type": "application/json"}

DEEP = 100_000
HOSTILE_BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("malformed json", b'{"title": "x",', JSON),
    ("trailing garbage", b'{"title": "x"} trailing', JSON),
    ("not an object", b'["title", "x"]', JSON),
    ("wrong content type", b'{"title": "x"}', {"Content-Type": "text/plain"}),
    ("form instead of json", b"title=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("no content type", b'{"title": "x"}', {}),
    ("deeply nested arrays", b"[" * DEEP + b"]" * DEEP, JSON),
    ("deeply nested objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON),
    ("deep value in a field", b'{"title": ' + b"[" * DEEP + b"]" * DEEP + b"}", JSON),
    ("huge integer", b'{"title": "x", "owner_id": ' + b"9" * 5000 + b"}", JSON),
    ("big integer", b'{"title": "x", "owner_id": 99999999999999999999999}', JSON),
    ("float for an id", b'{"title": "x", "owner_id": 1e308}', JSON),
    ("nan", b'{"title": "x", "owner_id": NaN}', JSON),
    ("invalid utf-8", b'{"title": "\xff\xfe\xfd"}', JSON),
    ("lone surrogate", b'{"title": "\\ud800"}', JSON),
    ("nul in a string", b'{"title": "a\\u0000b"}', JSON),
    ("nul in description", b'{"title": "a", "description": "x\\u0000y"}', JSON),
    ("raw nul byte", b'{"title": "a\x00b"}', JSON),
    ("empty body", b"", JSON),
    ("null body", b"null", JSON),
    ("title of wrong type", b'{"title": {"$ne": null}}', JSON),
    ("duplicate keys smuggling", b'{"title": "x", "title": ["y"]}', JSON),
]


async def _rows(application: FastAPI) -> int:
    async with application.state.session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(Item))).scalar_one())


@pytest.fixture
async def user(client: AsyncClient, application: FastAPI) -> Account:
    return await account(application, client)


@pytest.mark.parametrize("case", HOSTILE_BODIES, ids=[case[0] for case in HOSTILE_BODIES])
async def test_hostile_body_is_refused_without_a_trace(
    client: AsyncClient,
    application: FastAPI,
    user: Account,
    case: tuple[str, bytes, dict[str, str]],
) -> None:
    name, body, headers = case
    response = await client.post(ITEMS, content=body, headers={**user.headers, **headers})
    problem = assert_problem(response, response.status_code)
    assert 400 <= response.status_code < 500, (name, response.status_code, problem)
    assert await _rows(application) == 0
    alive = await client.get(ITEMS, headers=user.headers)
    assert alive.status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "a\\u0000b"}',
        b'{"title": "ok", "description": "' + b"d" * 5001 + b'"}',
        b'{"title": "\xff"}',
        b"[" * DEEP,
    ],
)
async def test_hostile_update_leaves_the_item_as_it_was(
    client: AsyncClient, user: Account, method: str, body: bytes
) -> None:
    item = (await client.post(ITEMS, json={"title": "before"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    response = await client.request(method, url, content=body, headers={**user.headers, **JSON})
    assert_problem(response, response.status_code)
    assert 400 <= response.status_code < 500
    assert (await client.get(url, headers=user.headers)).json() == item


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nul\u0000@example.com", "password": PASSWORD},
        {
            "email": "a@example.com",
            "password": PASSWORD,
            "full_name": "\u0000",
        },
        {"email": "a@example.com", "password": PASSWORD, "full_name": 5},
    ],
)
async def test_hostile_sign_up_creates_no_account(client: AsyncClient, body: object) -> None:
    response = await client.post(USERS, content=json.dumps(body), headers=JSON)
    assert_problem(response, 422)
    listing = await client.get(USERS, headers={"X-Token": "test-service-token-0123456789"})
    assert listing.json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"q": "a\u0000b"},
        {"cursor": "\u0000"},
        {"cursor": "not-base64!!"},
        {"created_after": "0"},
        {"created_after": "9999999999-01-01"},
        {"sort": "id; DROP TABLE items"},
        {"limit": "1" * 500},
    ],
)
async def test_hostile_query_strings_are_refused(
    client: AsyncClient, user: Account, params: dict[str, str]
) -> None:
    response = await client.get(ITEMS, params=params, headers=user.headers)
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "path", [f"{ITEMS}/{'9' * 400}", f"{ITEMS}/-1", f"{ITEMS}/0", f"{ITEMS}/1e3", f"{ITEMS}/%00"]
)
async def test_hostile_ids_in_paths_are_refused(
    client: AsyncClient, user: Account, path: str
) -> None:
    response = await client.get(path, headers=user.headers)
    assert response.status_code in {404, 422}
    assert_problem(response, response.status_code)


async def test_over_long_headers_get_431(client: AsyncClient, user: Account) -> None:
    response = await client.get(ITEMS, headers={**user.headers, "X-Junk": "j" * 70_000})
    assert_problem(response, 431, "headers_too_large")
    too_long_token = await client.get(ITEMS, headers={"Authorization": "Bearer " + "a" * 20_000})
    assert_problem(too_long_token, 431)


async def test_malformed_authorization_headers_are_401(client: AsyncClient) -> None:
    for value in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer a.b.c", "Bearer \u00e9"):
        response = await client.get(ITEMS, headers={"Authorization": value.encode("utf-8")})
        assert_problem(response, 401)


# --- Against a real server: the same attacks over a socket, and it stays up ------------------


@pytest.fixture(scope="module")
def real_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("hostile")
    env = {"DATABASE_URL": database_url, "RATE_LIMIT_ENABLED": "false"}
    with uvicorn_server(workdir, env) as server:
        yield server


async def _ten_megabytes() -> AsyncIterator[bytes]:
    for _ in range(10 * 16):
        yield b"x" * 65_536


async def test_real_server_refuses_10mb_bodies_and_huge_headers_and_stays_up(
    real_server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=real_server.url, timeout=30) as http:
        declared = await http.post(ITEMS, content=b"x" * (10 * 1024 * 1024), headers=JSON)
        chunked = await http.post(ITEMS, content=_ten_megabytes(), headers=JSON)
        nested = await http.post(ITEMS, content=b"[" * DEEP + b"]" * DEEP, headers=JSON)
        junk = await http.get("/health/live", headers={"X-Junk": "j" * 60_000})
    assert_problem(declared, 413, "payload_too_large")
    assert_problem(chunked, 413, "payload_too_large")
    assert 400 <= nested.status_code < 500
    assert 400 <= junk.status_code < 500  # 431 from us, or the HTTP parser's own refusal
    async with httpx.AsyncClient(base_url=real_server.url, timeout=10) as http:
        assert (await http.get("/health/ready")).status_code == 200
    assert real_server.is_running()
