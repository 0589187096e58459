"""Alembic owns the schema: up from empty, down to nothing, and up again, on each backend."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import app.models
from tests import dbutil
from tests.scaffold.tree import copy_project


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    expected = set(app.models.Base.metadata.tables)
    with dbutil.throwaway_database(os.environ.get("TEST_DATABASE_URL"), tmp_path) as url:
        dbutil.upgrade(url)
        assert asyncio.run(_tables(url)) == expected
        dbutil.downgrade(url, "base")
        assert asyncio.run(_tables(url)) == set()
        dbutil.upgrade(url)
        assert asyncio.run(_tables(url)) == expected


def test_autogenerate_without_a_model_change_writes_nothing(tmp_path: Path) -> None:
    """`make migration` when the models match the migrations: no empty file, and a word why."""
    root = copy_project(tmp_path / "project")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}",
        "PYTHONPATH": str(root),
        "SAVE": "false",
    }
    before = sorted(p.name for p in (root / "migrations" / "versions").glob("*.py"))
    for args in (["upgrade", "head"], ["revision", "--autogenerate", "-m", "nothing"]):
        done = subprocess.run(  # noqa: S603 (alembic of this interpreter, fixed arguments)
            [sys.executable, "-m", "alembic", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "no changes detected" in done.stdout
    assert sorted(p.name for p in (root / "migrations" / "versions").glob("*.py")) == before
