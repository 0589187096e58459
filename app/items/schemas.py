"""What the items API accepts and returns."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from app.core.text import NO_NUL
from app.items.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH

Title = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH, pattern=NO_NUL
    ),
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH, pattern=NO_NUL)]
SortField = Literal["created_at", "title"]
SortOrder = Literal["asc", "desc"]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_ID = 2**31 - 1
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _as_utc(value: datetime) -> datetime:
    """A time without zone is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_only(value: object) -> object:
    """Only what the schema documents (an ISO 8601 date-time), not a bare number taken as
    seconds since 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_as_utc)]


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemCreate(StrictInput):
    title: Title
    description: Description = ""
    owner_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Superusers and the service caller may create an item for a user; "
        "others may only name themselves.",
    )


class ItemReplace(StrictInput):
    """PUT: the whole editable state."""

    title: Title
    description: Description = ""


class ItemUpdate(StrictInput):
    """PATCH: only the fields given change."""

    title: Title | None = None
    description: Description | None = None


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
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class ItemQuery(BaseModel):
    """List filters and order, validated before any query runs."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=512)
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=TITLE_MAX_LENGTH,
        pattern=NO_NUL,
        description="Case-insensitive text the title contains",
    )
    created_after: UtcDatetime | None = Field(default=None, description="Created at or after")
    created_before: UtcDatetime | None = Field(default=None, description="Created before")
    sort: SortField = "created_at"
    order: SortOrder = "desc"
