"""What the items API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.pagination import MAX_CURSOR_LENGTH
from app.core.schemas import MAX_ID, NO_NUL, StrictInput, UtcDatetime
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
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)
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
