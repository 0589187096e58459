"""Input rules every domain shares: strict bodies, bounded ids, text without NUL, UTC times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

# Integer primary keys are PostgreSQL `integer`: a larger id can name no row, so it is refused
# before any query instead of failing in the driver.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

# PostgreSQL text cannot hold NUL while SQLite can: refuse it everywhere, so both databases
# answer a NUL byte with the same 422 instead of one storing it and the other failing.
NO_NUL = r"^[^\x00]*$"

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class StrictInput(BaseModel):
    """A request body: an unknown field is an error, never silently dropped (no mass
    assignment), and a value of another JSON type is not coerced (`0` is no `false`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _as_utc(value: datetime) -> datetime:
    """A time without zone is taken as UTC; one that UTC cannot hold is invalid input."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range in UTC") from None


def _iso_only(value: object) -> object:
    """Only what the schema documents (an ISO 8601 date-time), not a bare number taken as
    seconds since 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_as_utc)]
