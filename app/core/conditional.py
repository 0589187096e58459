"""Conditional requests from a version column: ETag, If-Match (lost-update protection) and
If-None-Match (304), the same for every domain whose rows carry a `version`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header

_STRONG_ETAG = re.compile(r'^"(\d{1,10})"$')  # If-Match compares strongly: W/ never matches
UNMATCHABLE_VERSION = 0  # versions start at 1
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "The row's version, for If-Match", "schema": {"type": "string"}}
}


def etag(version: int) -> str:
    """The strong ETag of a row at `version`."""
    return f'"{version}"'


def if_match_version(
    if_match: Annotated[
        str | None,
        Header(
            max_length=256,
            description='The ETag last seen (`"<version>"`); a stale one gets 412. `*` or no '
            "header: change whatever version is current.",
        ),
    ] = None,
) -> int | None:
    """The version the caller expects, or None to accept any.

    An ETag this service never gave out matches no version: the service answers 412 once the
    request is otherwise valid (RFC 9110 section 13.2.1: a 404 or 422 comes first).
    """
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
