"""Production mode: docs hidden unless asked for, and unsafe configurations refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_SECRET_KEY, Settings
from tests.assertions import assert_problem
from tests.security.conftest import AppFactory

ROOT = Path(__file__).resolve().parents[2]
STRONG: dict[str, Any] = {
    "SECRET_KEY": "k" * 40,
    "FIRST_SUPERUSER_PASSWORD": "a-long-admin-password-42",
    "DATABASE_URL": "postgresql+asyncpg://u@h/db",
}
DOC_PATHS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]


async def test_prod_hides_docs_and_schema(app_factory: AppFactory) -> None:
    async with app_factory(STATUS="prod", ALLOW_SQLITE_IN_PROD=True, **STRONG) as (_, client):
        for path in DOC_PATHS:
            assert_problem(await client.get(path), 404, "not_found")


async def test_prod_serves_docs_when_explicitly_enabled(app_factory: AppFactory) -> None:
    async with app_factory(
        STATUS="prod", ALLOW_SQLITE_IN_PROD=True, DOCS_ENABLED=True, **STRONG
    ) as (_, client):
        for path in DOC_PATHS:
            assert (await client.get(path)).status_code == 200, path


async def test_dev_can_switch_docs_off(app_factory: AppFactory) -> None:
    async with app_factory(DOCS_ENABLED=False) as (_, client):
        assert_problem(await client.get("/openapi.json"), 404)


def test_prod_refuses_the_default_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, STATUS="prod", **{**STRONG, "SECRET_KEY": DEFAULT_SECRET_KEY})


def test_prod_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, STATUS="prod", **{**STRONG, "SECRET_KEY": "short"})


def test_prod_refuses_sqlite_unless_allowed() -> None:
    sqlite = {**STRONG, "DATABASE_URL": "sqlite+aiosqlite:///./x.db"}
    with pytest.raises(ValidationError, match="ALLOW_SQLITE_IN_PROD"):
        Settings(_env_file=None, STATUS="prod", **sqlite)
    assert Settings(_env_file=None, STATUS="prod", ALLOW_SQLITE_IN_PROD=True, **sqlite).is_prod


def test_required_service_token_must_be_set() -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKEN_REQUIRED"):
        Settings(_env_file=None, SERVICE_TOKEN_REQUIRED=True)
    assert Settings(_env_file=None, SERVICE_TOKEN_REQUIRED=True, X_TOKEN="t" * 30).service_token


def test_prod_refuses_a_guessable_service_token() -> None:
    with pytest.raises(ValidationError, match="X_TOKEN"):
        Settings(_env_file=None, STATUS="prod", X_TOKEN="letmein", **STRONG)
    assert Settings(_env_file=None, STATUS="prod", X_TOKEN="t" * 32, **STRONG).is_prod


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("RATE_LIMIT_DEFAULT", "lots"),
        ("RATE_LIMIT_LOGIN", "10 per fortnight"),
        ("CORS_ORIGINS", "*"),
    ],
)
def test_nonsense_security_settings_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STATUS": "prod", "DATABASE_URL": STRONG["DATABASE_URL"]}, "SECRET_KEY"),
        ({"STATUS": "prod", "SECRET_KEY": "k" * 40}, "ALLOW_SQLITE_IN_PROD"),
        ({"SERVICE_TOKEN_REQUIRED": "true", "X_TOKEN": ""}, "X_TOKEN"),
        ({"SAVE": "true", "LOG_SAVE_PATH": "a-file/logs"}, "LOG_SAVE_PATH"),
    ],
)
def test_unsafe_start_stops_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    (tmp_path / "a-file").write_text("")  # a log folder cannot be made below a file
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    environment = {k: v for k, v in os.environ.items() if k in keep}
    environment.update(
        {
            "PYTHONPATH": str(ROOT),
            "FIRST_SUPERUSER_PASSWORD": "a-long-admin-password-42",
            **env,
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
