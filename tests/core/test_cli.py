"""The command line as an operator runs it: a fresh process, settings from the environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import main
from app.core.db import utcnow
from app.users.models import RefreshToken, User
from tests.factories import accounts_and_roles

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_create_superuser_command_is_idempotent(database_url: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "FIRST_SUPERUSER_EMAIL": "ops@example.com",
        "FIRST_SUPERUSER_PASSWORD": "a-long-enough-password",
        "SAVE": "false",
        "JSON_LOG": "false",
    }
    try:
        first = _run(["create-superuser"], env, tmp_path)
        second = _run(["create-superuser"], env, tmp_path)
        assert first.returncode == 0, first.stderr
        assert "superuser ops@example.com created" in first.stdout + first.stderr
        assert second.returncode == 0, second.stderr
        assert "superuser ops@example.com already exists" in second.stdout + second.stderr
    finally:
        rows = asyncio.run(accounts_and_roles(database_url))
    assert rows == [("ops@example.com", "admin")]


def test_invalid_settings_stop_the_command_with_one_line(tmp_path: Path) -> None:
    done = _run(["create-superuser"], {"LEVEL": "nonsense"}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("invalid configuration: LEVEL:")


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


def test_purge_tokens_deletes_only_the_expired_refresh_tokens(
    database_url: str, tmp_path: Path
) -> None:
    async def seed() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                user_id = (
                    await connection.execute(
                        User.__table__.insert()
                        .values(email="p@example.com", full_name="", hashed_password="x")
                        .returning(User.id)
                    )
                ).scalar_one()
                now = utcnow()
                await connection.execute(
                    RefreshToken.__table__.insert(),
                    [
                        {
                            "user_id": user_id,
                            "family": "f",
                            "token_hash": name,
                            "generation": 0,
                            "expires_at": now + offset,
                        }
                        for name, offset in (
                            ("old", -timedelta(days=1)),
                            ("new", timedelta(days=1)),
                        )
                    ],
                )
        finally:
            await engine.dispose()

    async def left_and_clean() -> list[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                rows = await connection.execute(select(RefreshToken.token_hash))
                names = [row[0] for row in rows]
                await connection.execute(User.__table__.delete())
                return names
        finally:
            await engine.dispose()

    asyncio.run(seed())
    env = {"DATABASE_URL": database_url, "SAVE": "false", "JSON_LOG": "false"}
    done = _run(["purge-tokens"], env, tmp_path)
    left = asyncio.run(left_and_clean())
    assert done.returncode == 0, done.stderr
    assert "purged 1 expired refresh tokens" in done.stdout + done.stderr
    assert left == ["new"]
