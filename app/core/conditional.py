"""Conditional requests from a version column: ETag, If-Match (lost-update protection) and
If-None-Match (304), the same for every domain whose rows carry a `version`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

_STRONG_ETAG = re.compile(r'^"(\d{1,10})"$')  # If-Match compares strongly: W/ never matches
UNMATCHABLE_VERSION = 0  # versions start at 1
UNCONDITIONAL_TRIES = 3
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "The row's version, for If-Match", "schema": {"type": "string"}}
}


def etag(version: int) -> str:
    """The strong ETag of a row at `version`."""
    return f'"{version}"'


async def if_match_version(
    if_match: Annotated[
        str | None,
        Header(
            max_length=256,
            description='The ETag last seen (`"<version>"`); a stale one gets 412. `*` or no '
            "header: change whatever version is current.",
        ),
    ] = None,
) -> int | None:
    """The version the caller expects, or None for any. An ETag we never gave out matches
    none: 412 once the request is otherwise valid (RFC 9110 13.2.1: a 404 or 422 first)."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _STRONG_ETAG.match(if_match.strip())
    return int(match.group(1)) if match is not None else UNMATCHABLE_VERSION


ExpectedVersion = Annotated[int | None, Depends(if_match_version)]


IfNoneMatch = Annotated[
    str | None,
    Header(max_length=256, description="ETags the caller holds: a current one gets 304."),
]


def is_current(header: str | None, version: int) -> bool:
    """Whether an If-None-Match value names the row's current version (weak comparison,
    RFC 9110 section 13.1.2: `W/` is ignored; `*` matches any row)."""
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag(version) in tags


def version_matches(current: int, expected: int | None) -> bool:
    """Whether a change the caller conditioned on `expected` (None: any) may apply."""
    return expected is None or expected == current


async def write_versioned(
    session: AsyncSession,
    row: Any,
    change: Callable[[], Awaitable[None]],
    *,
    expected: int | None,
    conflict: Callable[[str], Exception],
    gone: Callable[[], Exception],
) -> None:
    """Apply `change` to a row with a `version` column and flush it in a savepoint.

    A writer that got there first makes the flush fail: with If-Match (`expected`) that is
    the caller's `conflict`; without, the row is read again and locked (`FOR UPDATE`), and the
    change applied to the version now current, as an unconditional write promises; `gone` if
    the row was deleted meanwhile.
    """
    for _ in range(UNCONDITIONAL_TRIES):
        if not version_matches(row.version, expected):
            raise conflict(f"the row is at version {row.version}, not {expected}")
        try:
            async with session.begin_nested():
                await change()
                await session.flush()
            return
        except StaleDataError:
            if expected is not None:
                raise conflict("the row was changed concurrently") from None
        try:
            await session.refresh(row, with_for_update=True)
        except InvalidRequestError:
            raise gone() from None
    raise conflict("the row kept changing concurrently")
