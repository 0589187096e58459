"""Business rules of items: ownership, keyset listing, optimistic concurrency.

Functions take the session first and only flush; the request's session commits once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated, Any

from pydantic import AwareDatetime, StringConstraints, TypeAdapter
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.conditional import write_versioned
from app.core.config import Settings
from app.core.jobs.models import Job
from app.core.jobs.outbox import enqueue
from app.core.pagination import (
    CursorError,
    Direction,
    Position,
    SortKey,
    after,
    decode_cursor,
    encode_cursor,
    page_parameters,
    split_page,
)
from app.core.principal import Principal, may_see, visible_owner
from app.core.schemas import NO_NUL
from app.items.exceptions import (
    InvalidCursorError,
    ItemNotFoundError,
    ItemVersionConflictError,
    OwnerNotAllowedError,
    OwnerNotFoundError,
    OwnerRequiredError,
)
from app.items.models import TITLE_MAX_LENGTH, Item
from app.items.permissions import ITEMS
from app.items.schemas import ItemCreate, ItemQuery, ItemReplace, ItemUpdate
from app.users import service as users

EXPORT_TASK = "items.export"  # run by tasks.py

# Each sort the list offers: its column, and what a cursor may carry for it.
SORT_KEYS = {
    "created_at": SortKey(Item.created_at, TypeAdapter(AwareDatetime)),
    "title": SortKey(
        Item.title,
        TypeAdapter(Annotated[str, StringConstraints(max_length=TITLE_MAX_LENGTH, pattern=NO_NUL)]),
    ),
}


# Built once: a statement made per request costs more than the round trip it makes.
_BY_ID = select(Item).where(Item.id == bindparam("item_id"))


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return (await session.execute(_BY_ID, {"item_id": item_id})).scalar_one_or_none()


async def get_visible(
    session: AsyncSession, principal: Principal, item_id: int, *, everyones: str
) -> Item | None:
    """The item, or None when it does not exist or is another's and the caller lacks the
    `everyones` permission."""
    item = await get(session, item_id)
    return item if item is not None and may_see(principal, item.owner_id, everyones) else None


async def resolve_owner(session: AsyncSession, principal: Principal, requested: int | None) -> int:
    """Whose new item this is: the caller's own; holders of items:write_all may name a user."""
    if not principal.has(ITEMS.write_all):
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


async def create(session: AsyncSession, principal: Principal, data: ItemCreate) -> Item:
    owner_id = await resolve_owner(session, principal, data.owner_id)
    item = Item(title=data.title, description=data.description, owner_id=owner_id)
    session.add(item)
    await session.flush()
    return item


async def export(session: AsyncSession, settings: Settings, principal: Principal) -> Job:
    """Ask for an export of the caller's items: a job that exists only if this commits."""
    owner_id = await resolve_owner(session, principal, None)
    return await enqueue(session, settings, EXPORT_TASK, {"owner_id": owner_id}, owner_id=owner_id)


async def owned_by(session: AsyncSession, owner_id: int, limit: int) -> list[Item]:
    """A user's items, oldest first, at most `limit`."""
    statement = select(Item).where(Item.owner_id == owner_id)
    return list(await session.scalars(statement.order_by(Item.created_at, Item.id).limit(limit)))


async def update(
    session: AsyncSession,
    item: Item,
    changes: ItemUpdate | ItemReplace,
    *,
    expected_version: int | None,
) -> Item:
    values = changes.model_dump(exclude_unset=isinstance(changes, ItemUpdate))

    async def change() -> None:
        for field, value in values.items():
            if value is not None:
                setattr(item, field, value)

    await _write(session, item, change, expected_version)
    return item


async def delete(session: AsyncSession, item: Item, *, expected_version: int | None) -> None:
    await _write(session, item, lambda: session.delete(item), expected_version)


async def _write(
    session: AsyncSession,
    item: Item,
    change: Callable[[], Awaitable[None]],
    expected_version: int | None,
) -> None:
    """A write that If-Match guards; without it, the write applies to the current version."""
    item_id = item.id
    await write_versioned(
        session,
        item,
        change,
        expected=expected_version,
        conflict=lambda reason: ItemVersionConflictError(f"item {item_id}: {reason}"),
        gone=ItemNotFoundError,
    )


@cache
def page_statement(
    sort: str, order: Direction, *, owned: bool, text: bool, since: bool, until: bool, resumed: bool
) -> Select[Item]:
    """The list's statement for one combination of sort, order and filters, built once: the
    values are bound at execution (`list_parameters`)."""
    statement = select(Item)
    if owned:
        statement = statement.where(Item.owner_id == bindparam("owner_id"))
    if text:
        statement = statement.where(func.lower(Item.title).like(bindparam("title"), escape="/"))
    if since:
        statement = statement.where(Item.created_at >= bindparam("created_after"))
    if until:
        statement = statement.where(Item.created_at < bindparam("created_before"))
    return after(statement, SORT_KEYS[sort], Item.id, order=order, resumed=resumed)


def list_statement(
    principal: Principal, query: ItemQuery, position: Position | None
) -> tuple[Select[Item], dict[str, Any]]:
    """The statement of one page (a page more than asked: is there another?) and its values."""
    owner_id = visible_owner(principal, ITEMS.read_all)
    statement = page_statement(
        query.sort,
        query.order,
        owned=owner_id is not None,
        text=bool(query.q),
        since=query.created_after is not None,
        until=query.created_before is not None,
        resumed=position is not None,
    )
    values = page_parameters(position, query.limit + 1)
    values |= {"owner_id": owner_id, "created_after": query.created_after}
    values |= {"created_before": query.created_before, "title": _contains(query.q or "")}
    return statement, values


def _contains(text: str) -> str:
    """A LIKE pattern for titles containing `text`, in any case; its wildcards escaped."""
    escaped = text.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


async def list_page(
    session: AsyncSession, principal: Principal, query: ItemQuery
) -> tuple[list[Item], str | None]:
    """One page of the items the caller may see, in a stable order (sort key, then id), and
    the cursor of the next page (None at the end)."""
    key = SORT_KEYS[query.sort]
    try:
        position = (
            None
            if query.cursor is None
            else decode_cursor(query.cursor, sort=query.sort, order=query.order, key=key)
        )
    except CursorError as error:
        raise InvalidCursorError(str(error)) from None
    statement, values = list_statement(principal, query, position)
    rows, last = split_page(list(await session.scalars(statement, values)), query.limit)
    if last is None:
        return rows, None
    value = getattr(last, query.sort)
    return rows, encode_cursor(query.sort, query.order, value, last.id)
