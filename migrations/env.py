"""Alembic environment: async engine, the service's DATABASE_URL, batch mode for SQLite."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import get_settings
from app.core.db import ensure_sqlite_folder
from app.core.logging import setup_logging
from app.models import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    """An explicit URL (tests set it) wins over the service settings."""
    return config.get_main_option("sqlalchemy.url") or get_settings().DATABASE_URL


def _skip_empty_autogenerate(_context: object, _revision: object, directives: list[Any]) -> None:
    """`make migration` with no model change writes no file, and says so."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        sys.stdout.write("no changes detected: no migration written\n")


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    is_sqlite = (url or str(connection.engine.url if connection else "")).startswith("sqlite")
    context.configure(
        process_revision_directives=_skip_empty_autogenerate,
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        literal_binds=connection is None,
        dialect_opts={"paramstyle": "named"} if connection is None else {},
    )


def run_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = database_url()
    if url.startswith("sqlite"):
        ensure_sqlite_folder(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if config.attributes.get("configure_logging", True):
    setup_logging(get_settings())

if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
