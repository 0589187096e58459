"""Throwaway databases for tests: a temp SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def alembic_in(root: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m alembic ARGS` in another tree (a copy of the project), on `database_url`;
    the run must succeed."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(root), "SAVE": "false"}
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
    return done


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


async def _admin(url: str, statement: str) -> None:
    admin_url = make_url(url).set(database="postgres")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextmanager
def throwaway_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database that is gone afterwards."""
    if not server_url:
        yield f"sqlite+aiosqlite:///{folder / f'test_{secrets.token_hex(4)}.db'}"
        return
    name = f"test_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
