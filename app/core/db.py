"""Async SQLAlchemy: the engine, the model base and the per-request session dependency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings
from app.core.errors import AppError

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
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)


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
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class TimedPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, telling `waited` how long a checkout took when no idle
    connection was there (it waited for one to come back, or for a new one): the pool's
    saturation as requests feel it. A checkout that finds one idle is not timed, so the
    usual request pays nothing."""

    waited: Callable[[float], None] | None = None

    def connect(self) -> PoolProxiedConnection:
        if self.waited is None or self.checkedin() > 0:
            return super().connect()
        started = perf_counter()
        try:
            return super().connect()
        finally:
            self.waited(perf_counter() - started)

    def recreate(self) -> TimedPool:
        pool = super().recreate()
        assert isinstance(pool, TimedPool)  # noqa: S101 (its class makes it)
        pool.waited = self.waited  # a dispose keeps the timing
        return pool


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """One engine per process and event loop: call it from the lifespan, never at import.
    Unpooled, each use opens its own connection: the readiness probe never queues behind
    requests for a pooled one."""
    url = settings.DATABASE_URL
    pool: dict[str, Any] = {"poolclass": NullPool}
    if pooled:
        pool = {"poolclass": TimedPool, "pool_size": settings.DB_POOL_SIZE}
        pool |= {"max_overflow": settings.DB_MAX_OVERFLOW}
        pool |= {"pool_timeout": settings.DB_POOL_TIMEOUT, "pool_recycle": 1800}
    if settings.is_sqlite:
        ensure_sqlite_folder(url)
        engine = create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": 30}, **pool)
        if pooled:  # the probe only reads: it takes no write lock
            _sqlite_for_concurrent_writers(engine)
        return engine
    args: dict[str, Any] = {}
    if url.startswith("postgresql+asyncpg"):
        server_settings = {"application_name": settings.SERVICE_CODE}
        if settings.DB_STATEMENT_TIMEOUT_MS:
            server_settings["statement_timeout"] = str(settings.DB_STATEMENT_TIMEOUT_MS)
        args = {"server_settings": server_settings, "timeout": settings.DB_POOL_TIMEOUT}
        if settings.DB_STATEMENT_TIMEOUT_MS:  # the client's own bound, for a frozen server
            args["command_timeout"] = settings.DB_STATEMENT_TIMEOUT_MS / 1000 + 1
    # No ping unless asked for (asyncpg's is three round trips); closed connections are replaced.
    engine = create_async_engine(
        url, pool_pre_ping=settings.DB_POOL_PRE_PING and pooled, connect_args=args, **pool
    )
    _replace_closed_connections(engine)
    _unreachable_is_operational(engine)
    return engine


def _unreachable_is_operational(engine: AsyncEngine) -> None:
    """A connect or statement that failed at the network (refused, reset, timed out) becomes
    SQLAlchemy's OperationalError, and its connection is dropped, not reused: asyncpg raises
    the OS error or TimeoutError itself, which no error handler would recognise."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except (OSError, TimeoutError) as error:
            raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {error!r}") from error

    event.listen(engine.sync_engine, "handle_error", connection_failed)


def connection_failed(context: Any) -> Exception | None:
    """For a statement that failed with its connection (an OS error, a timeout, or asyncpg's
    InternalClientError: its state broke mid-operation), SQLAlchemy's OperationalError, and
    the connection is dropped; for any other failure, None (SQLAlchemy's own handling)."""
    error = context.original_exception
    broken_driver = getattr(context.dialect.loaded_dbapi, "InternalClientError", ())
    if not isinstance(error, OSError | TimeoutError) and not isinstance(error, broken_driver):
        return None
    context.is_disconnect = True
    return sa_exc.OperationalError(context.statement, context.parameters, error)


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """At checkout, drop a connection the server closed (no round trip): the pool gets another."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        is_closed = getattr(getattr(dbapi_connection, "driver_connection", None), "is_closed", None)
        if is_closed is not None and is_closed():
            raise sa_exc.DisconnectionError("the server closed this pooled connection")


def ensure_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine, seconds: float) -> None:
    """`SELECT 1` within `seconds`; raises when the database cannot answer."""
    async with asyncio.timeout(seconds), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once the request's transaction has committed (never after a rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session, one transaction per request: commit once after the handler, else roll back."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except AppError as error:
            await (session.commit() if error.keeps_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise
        for action in session.info.pop(_AFTER_COMMIT, []):
            await action()


# scope="function": the commit runs before the response, so a failed commit is never a 200.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
