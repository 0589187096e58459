"""FastAPI + async SQLAlchemy + asyncpg doing what the item routes do: no auth, no middleware.

What any FastAPI service pays to read a row, list a page of 20 and insert a row; the
authenticated read, list and create are compared with these. It maps the service's `items`
table itself (the same rows, the same columns, the same JSON shapes: a page carries the same
keyset cursor) and the same pool per worker as the service (its defaults, or the benchmark's
`DB_POOL_SIZE` and `DB_MAX_OVERFLOW`). No auth, so the owner is named in the query string.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    owner_id: int
    version: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    next_cursor: str | None


class ItemCreate(BaseModel):
    title: str
    description: str = ""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(
        os.environ["DATABASE_URL"],
        pool_size=int(os.environ.get("DB_POOL_SIZE", "20")),
        max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", "0")),
    )
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


@app.get("/health/live")
async def live() -> dict[str, str]:
    """Only for the harness to know the server is up; not measured."""
    return {"status": "ok"}


@app.get("/items/{item_id}", response_model=ItemRead)
async def read_item(item_id: int, session: Annotated[AsyncSession, Depends(get_session)]) -> Item:
    item = await session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404)
    return item


@app.get("/items", response_model=ItemPage)
async def list_items(
    owner_id: int, session: Annotated[AsyncSession, Depends(get_session)], limit: int = 20
) -> dict[str, object]:
    """The owner's newest items, with the keyset cursor of the next page."""
    statement = (
        select(Item)
        .where(Item.owner_id == owner_id)
        .order_by(Item.created_at.desc(), Item.id.desc())
        .limit(limit + 1)
    )
    rows = list(await session.scalars(statement))
    page, cursor = rows[:limit], None
    if len(rows) > limit:
        last = page[-1]
        raw = {"s": "created_at", "o": "desc", "v": last.created_at.isoformat(), "id": last.id}
        cursor = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    return {"items": page, "next_cursor": cursor}


@app.post("/items", response_model=ItemRead, status_code=201)
async def create_item(
    data: ItemCreate, owner_id: int, session: Annotated[AsyncSession, Depends(get_session)]
) -> Item:
    now = datetime.now(UTC)
    item = Item(
        title=data.title,
        description=data.description,
        owner_id=owner_id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    await session.commit()
    return item
