"""Business rules of items: ownership, keyset listing, optimistic concurrency.

Functions take the session first and only flush; the request's session commits once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.pagination import CursorError, decode_cursor, encode_cursor
from app.items.exceptions import (
    InvalidCursorError,
    ItemVersionConflictError,
    OwnerNotAllowedError,
    OwnerNotFoundError,
    OwnerRequiredError,
)
from app.items.models import Item
from app.items.schemas import ItemCreate, ItemQuery, ItemReplace, ItemUpdate
from app.users import service as users
from app.users.dependencies import Principal


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def create(session: AsyncSession, owner_id: int, data: ItemCreate) -> Item:
    item = Item(title=data.title, description=data.description, owner_id=owner_id)
    session.add(item)
    await session.flush()
    return item


def check_version(item: Item, expected_version: int | None) -> None:
    """`If-Match` said which version the caller last saw; anything else is a conflict."""
    if expected_version is not None and expected_version != item.version:
        raise ItemVersionConflictError(
            f"item {item.id} is at version {item.version}, not {expected_version}"
        )


async def _flush_versioned(session: AsyncSession, item: Item) -> None:
    """Flush; a concurrent writer that got there first turns into the domain's 412."""
    item_id = item.id
    try:
        await session.flush()
    except StaleDataError:
        raise ItemVersionConflictError(f"item {item_id} was changed concurrently") from None


async def update(
    session: AsyncSession,
    item: Item,
    changes: ItemUpdate | ItemReplace,
    *,
    expected_version: int | None,
) -> Item:
    check_version(item, expected_version)
    partial = isinstance(changes, ItemUpdate)
    for field, value in changes.model_dump(exclude_unset=partial).items():
        if value is not None:
            setattr(item, field, value)
    await _flush_versioned(session, item)
    return item


async def delete(session: AsyncSession, item: Item, *, expected_version: int | None) -> None:
    check_version(item, expected_version)
    await session.delete(item)
    await _flush_versioned(session, item)


def _sort_value(item: Item, sort: str) -> Any:
    value = getattr(item, sort)
    return value.isoformat() if isinstance(value, datetime) else value


def _after_position(query: ItemQuery) -> tuple[Any, int] | None:
    if query.cursor is None:
        return None
    try:
        position = decode_cursor(query.cursor)
    except CursorError as error:
        raise InvalidCursorError(str(error)) from None
    if position.get("s") != query.sort or position.get("o") != query.order:
        raise InvalidCursorError("the cursor belongs to another sort order")
    last_id, value = position.get("id"), position.get("v")
    if not isinstance(last_id, int) or not isinstance(value, str):
        raise InvalidCursorError("malformed cursor")
    if query.sort == "created_at":
        try:
            return datetime.fromisoformat(value), last_id
        except ValueError:
            raise InvalidCursorError("malformed cursor") from None
    return value, last_id


def _filtered(owner_id: int | None, query: ItemQuery) -> Select[Item]:
    statement = select(Item)
    if owner_id is not None:
        statement = statement.where(Item.owner_id == owner_id)
    if query.q:
        statement = statement.where(
            func.lower(Item.title).contains(query.q.lower(), autoescape=True)
        )
    if query.created_after is not None:
        statement = statement.where(Item.created_at >= query.created_after)
    if query.created_before is not None:
        statement = statement.where(Item.created_at < query.created_before)
    return statement


async def list_page(
    session: AsyncSession, *, owner_id: int | None, query: ItemQuery
) -> tuple[list[Item], str | None]:
    """One page in a stable order (sort key, then id) and the cursor of the next one.

    Keyset pagination: the next page starts after the last row's key, so page N costs the
    same as page 1 and rows inserted meanwhile cause no duplicates or gaps.
    """
    column = Item.created_at if query.sort == "created_at" else Item.title
    descending = query.order == "desc"
    statement = _filtered(owner_id, query)
    after = _after_position(query)
    if after is not None:
        value, last_id = after
        if descending:
            statement = statement.where(
                or_(column < value, and_(column == value, Item.id < last_id))
            )
        else:
            statement = statement.where(
                or_(column > value, and_(column == value, Item.id > last_id))
            )
    order = (column.desc(), Item.id.desc()) if descending else (column.asc(), Item.id.asc())
    rows = list(await session.scalars(statement.order_by(*order).limit(query.limit + 1)))
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[: query.limit]
    last = rows[-1]
    cursor = encode_cursor(
        {"s": query.sort, "o": query.order, "v": _sort_value(last, query.sort), "id": last.id}
    )
    return rows, cursor


async def resolve_owner(session: AsyncSession, principal: Principal, requested: int | None) -> int:
    """Whose new item this is: the caller's own; superusers and services may name a user."""
    if not principal.is_superuser:
        if requested is not None and requested != principal.user_id:
            raise OwnerNotAllowedError
        assert principal.user_id is not None  # noqa: S101 (only the service caller has no id)
        return principal.user_id
    owner_id = requested if requested is not None else principal.user_id
    if owner_id is None:
        raise OwnerRequiredError("send owner_id: the service caller owns no items itself")
    if owner_id != principal.user_id and await users.get(session, owner_id) is None:
        raise OwnerNotFoundError(f"no user {owner_id}")
    return owner_id


def visible_owner(principal: Principal) -> int | None:
    """Whose items the caller may list: everyone's for superusers, else their own."""
    return None if principal.is_superuser else principal.user_id
