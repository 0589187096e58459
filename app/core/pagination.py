"""Keyset pagination: a page starts after the last row's (sort value, id), compared as a row
value, `(sort, id) < (v, n)`, so an index on (..., sort, id) bounds the scan at any depth.
The position and the page size are bound parameters: one statement, built once, serves every
page. Cursors are not signed (tampering only moves the caller's own page) but fully validated."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Integer, Select, SQLColumnExpression, bindparam, tuple_
from sqlalchemy.orm import QueryableAttribute

from app.core.schemas import MAX_ID

MAX_CURSOR_LENGTH = 512
Direction = Literal["asc", "desc"]
Row = TypeVar("Row")


class CursorError(ValueError):
    """The cursor was not made by this service for this sort order."""


@dataclass(frozen=True, slots=True)
class SortKey:
    """A sort a list offers: its column, and the type a cursor's value must have for it."""

    column: QueryableAttribute[Any]
    value_type: TypeAdapter[Any]


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous page ended: its last row's sort value and id."""

    value: Any
    row_id: int


def encode_cursor(sort: str, order: Direction, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": sort, "o": order, "v": value, "id": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str, order: Direction, key: SortKey) -> Position:
    """The position a cursor names, checked: its sort order, an id in range, a value of the
    sort column's type; anything else is a CursorError."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise CursorError("cursor too long")
    try:
        content = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("malformed cursor") from None
    if not isinstance(content, dict):
        raise CursorError("malformed cursor")
    if content.get("s") != sort or content.get("o") != order:
        raise CursorError("the cursor belongs to another sort order")
    row_id = content.get("id")
    if type(row_id) is not int or not 1 <= row_id <= MAX_ID:
        raise CursorError("malformed cursor")
    try:
        raw = content.get("v")
        # A text is read as text is (an ISO time, a title); anything else must already be
        # of the column's type: no number taken for a time, no boolean for a number.
        value = (
            key.value_type.validate_strings(raw)
            if isinstance(raw, str)
            else key.value_type.validate_python(raw, strict=True)
        )
        if isinstance(value, datetime):
            value = value.astimezone(UTC)  # the database compares UTC times
    except (ValidationError, ValueError, OverflowError):
        raise CursorError("malformed cursor") from None
    return Position(value, row_id)


def after(
    statement: Select[Any],
    key: SortKey,
    id_column: SQLColumnExpression[int],
    *,
    order: Direction,
    resumed: bool,
) -> Select[Any]:
    """`statement` ordered by (sort, id), at most `:limit` rows and, when `resumed`, only
    those after `:after_value`, `:after_id`: bind them with `page_parameters` when executing."""
    descending = order == "desc"
    if resumed:
        row = tuple_(key.column, id_column)
        # Typed as the columns are: their types convert the values (aware times to UTC).
        value_type = key.column.expression.type
        bound = tuple_(
            bindparam("after_value", type_=value_type), bindparam("after_id", type_=Integer)
        )
        statement = statement.where(row < bound if descending else row > bound)
    columns = (key.column, id_column)
    ordering = [c.desc() if descending else c.asc() for c in columns]
    return statement.order_by(*ordering).limit(bindparam("limit", type_=Integer))


def page_parameters(position: Position | None, limit: int) -> dict[str, Any]:
    """The values of the parameters `after` binds, for a page of `limit` rows after `position`."""
    if position is None:
        return {"limit": limit}
    return {"limit": limit, "after_value": position.value, "after_id": position.row_id}


def split_page(rows: Sequence[Row], limit: int) -> tuple[list[Row], Row | None]:
    """The page (rows fetched with `limit + 1`) and its last row when another page follows."""
    page = list(rows[:limit])
    return page, (page[-1] if len(rows) > limit and page else None)
