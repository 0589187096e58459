"""Alembic owns the schema: up from empty, down to nothing, and up again, on each backend."""

from __future__ import annotations

import asyncio
import os
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
    url = f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}"
    before = sorted(p.name for p in (root / "migrations" / "versions").glob("*.py"))
    dbutil.alembic_in(root, url, "upgrade", "head")
    done = dbutil.alembic_in(root, url, "revision", "--autogenerate", "-m", "nothing")
    assert "no changes detected" in done.stdout
    assert sorted(p.name for p in (root / "migrations" / "versions").glob("*.py")) == before
