"""Async SQLAlchemy: the engine (one per process, made in the lifespan), the model base and the
per-request session dependency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; constraint names are stable so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampMixin:
    """`created_at` / `updated_at`, set by the application so every backend agrees."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.current_timestamp(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        default=utcnow,
        onupdate=utcnow,
        server_default=func.current_timestamp(),
        nullable=False,
    )


def _sqlite_for_concurrent_writers(engine: AsyncEngine) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE`, so concurrent writers wait instead of failing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    """One engine per process and event loop: call it from the lifespan, never at import."""
    url = settings.DATABASE_URL
    if settings.is_sqlite:
        ensure_sqlite_folder(url)
        engine = create_async_engine(
            url,
            echo=False,
            pool_pre_ping=True,
            pool_size=settings.DB_POOL_SIZE,
            max_overflow=settings.DB_MAX_OVERFLOW,
            pool_timeout=settings.DB_POOL_TIMEOUT,
            connect_args={"timeout": 30},
        )
        _sqlite_for_concurrent_writers(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+asyncpg"):
        server_settings = {"application_name": settings.SERVICE_CODE}
        if settings.DB_STATEMENT_TIMEOUT_MS:
            server_settings["statement_timeout"] = str(settings.DB_STATEMENT_TIMEOUT_MS)
        connect_args = {"server_settings": server_settings, "timeout": settings.DB_POOL_TIMEOUT}
    engine = create_async_engine(
        url,
        echo=False,
        # Off by default: asyncpg's ping is three round trips (BEGIN, `;`, ROLLBACK) on every
        # checkout, which tripled PostgreSQL's CPU per item read (bench/RESULTS.md). A
        # connection the server closed is still replaced before use, without a round trip
        # (`_replace_closed_connections`); DB_POOL_PRE_PING=true also catches connections a
        # middlebox dropped without telling either side.
        pool_pre_ping=settings.DB_POOL_PRE_PING,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    _replace_closed_connections(engine)
    return engine


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """At checkout, a connection whose socket the server closed while it sat in the pool (a
    restart, a failover, `pg_terminate_backend`, an idle timeout) is thrown away and the pool
    hands out a new one (SQLAlchemy retries a checkout that raises `DisconnectionError`).
    The driver learns of the close from the socket, so this costs no round trip."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            raise sa_exc.DisconnectionError("the server closed this pooled connection")


def ensure_sqlite_folder(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine, seconds: float) -> None:
    """`SELECT 1` within `seconds`; raises when the database cannot answer."""
    async with asyncio.timeout(seconds), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session, one transaction per request: commit once after the handler, else roll back."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit runs before the response is sent, so a failed commit
# reaches the error handler instead of leaving the client with a 200.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
