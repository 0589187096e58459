"""The command line as an operator runs it: a fresh process, settings from the environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import main
from app.users.models import Role, User, UserRole

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


async def _superusers(url: str, *, remove: bool) -> list[tuple[str, str | None]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(User.email, Role.name)
                    .outerjoin(UserRole, UserRole.user_id == User.id)
                    .outerjoin(Role, Role.id == UserRole.role_id)
                )
            ).all()
            if remove:
                await connection.execute(User.__table__.delete())
                await connection.commit()
    finally:
        await engine.dispose()
    return [(email, role) for email, role in rows]


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
        rows = asyncio.run(_superusers(database_url, remove=True))
    assert rows == [("ops@example.com", "admin")]


def test_invalid_settings_stop_the_command_with_one_line(tmp_path: Path) -> None:
    done = _run(["create-superuser"], {"LEVEL": "nonsense"}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("invalid configuration: LEVEL:")


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
