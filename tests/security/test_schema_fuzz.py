"""Property-based fuzzing of the whole API with schemathesis, against our own OpenAPI document.

A real server runs on the test database; schemathesis generates valid and invalid requests for
every operation (examples, boundary values, random data and stateful sequences), signed in as an
ordinary user (with a bearer token, then with an API key holding every right the user has) and
as the service caller. Every response must be a non-5xx, with a documented status, media type,
headers and body schema.

The check that a secured operation refuses a request without credentials (`ignored_auth`)
removes the credential of each declared `apiKey`/`http` scheme and sends the request again; it
cannot remove the OAuth2 password flow's bearer token, so it proves enforcement in the API-key
and service-token runs, where every scheme the request could use is declared and removed.

It takes minutes, so it runs from `.ci/hardening.sh` (on SQLite and PostgreSQL), which sets
`FUZZ_MAX_EXAMPLES`; set it to run the fuzzing here too.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

import app.models
from tests.servers import Server, uvicorn_server

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or 0)
SEED = os.environ.get("FUZZ_SEED", "20261123")
SERVICE_TOKEN = "fuzz-service-token-0123456789abcdef"
EMAIL = "fuzzer@example.com"
PASSWORD = "fuzzer-password-0123456789"
# Every check schemathesis has, except "a schema-valid request must be accepted": business
# rules (a weak password, a taken email, a wrong current password) reject valid-looking data
# on purpose, with documented 4xx answers.
EXCLUDED_CHECKS = "positive_data_acceptance"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        MAX_EXAMPLES < 1, reason="fuzzing runs from .ci/hardening.sh; set FUZZ_MAX_EXAMPLES"
    ),
]


async def _empty_tables(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in reversed(app.models.Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("fuzz")
    env = {
        "DATABASE_URL": database_url,
        "X_TOKEN": SERVICE_TOKEN,
        "RATE_LIMIT_ENABLED": "false",
        "OPEN_REGISTRATION": "true",
    }
    try:
        with uvicorn_server(workdir, env) as server:
            yield server
    finally:
        asyncio.run(_empty_tables(database_url))


def _user_token(server: Server) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        created = http.post("/api/v1/users", json={"email": EMAIL, "password": PASSWORD})
        assert created.status_code in {201, 409}, created.text
        login = http.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token: str = login.json()["access_token"]
        return token


def _user_api_key(server: Server) -> str:
    """A key of the fuzzing user scoped to all the user holds: what a key may do, fuzzed."""
    signed_in = {"Authorization": f"Bearer {_user_token(server)}"}
    with httpx.Client(base_url=server.url, timeout=10, headers=signed_in) as http:
        held = http.get("/api/v1/users/me/permissions")
        assert held.status_code == 200, held.text
        body = {"name": "fuzz", "scopes": held.json()}
        created = http.post("/api/v1/users/me/api-keys", json=body)
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key


def _fuzz(server: Server, header: str) -> None:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{server.url}/openapi.json",
        "--header",
        header,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--max-failures",
        "20",
        "--no-color",
    ]
    result = subprocess.run(  # noqa: S603 (our own tool, our own arguments)
        command,
        cwd=server.output.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, f"{report}\n--- server log ---\n{server.output_text()[-5000:]}"
    assert "API Operations" in result.stdout  # it really ran
    assert server.is_running()


def test_api_conforms_to_its_schema_as_a_user(fuzz_server: Server) -> None:
    _fuzz(fuzz_server, f"Authorization: Bearer {_user_token(fuzz_server)}")


def test_api_conforms_to_its_schema_with_an_api_key(fuzz_server: Server) -> None:
    _fuzz(fuzz_server, f"X-API-Key: {_user_api_key(fuzz_server)}")


def test_api_conforms_to_its_schema_as_the_service_caller(fuzz_server: Server) -> None:
    _fuzz(fuzz_server, f"X-Token: {SERVICE_TOKEN}")
