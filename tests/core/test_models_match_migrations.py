"""The migrations build exactly what the models declare: no change is left for autogenerate."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import app.models
from tests import dbutil


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, app.models.Base.metadata))


async def _compare(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


def test_no_model_change_lacks_a_migration(tmp_path: Path) -> None:
    with dbutil.throwaway_database(os.environ.get("TEST_DATABASE_URL"), tmp_path) as url:
        dbutil.upgrade(url)
        assert asyncio.run(_compare(url)) == []
