"""Load-and-authorize, and the conditional-request headers, resolved once per request."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Path

from app.core.db import SessionDep
from app.items import service
from app.items.exceptions import ItemNotFoundError
from app.items.models import Item
from app.items.schemas import MAX_ID
from app.users.dependencies import CurrentPrincipal

_ETAG = re.compile(r'^"(\d{1,10})"$')
UNMATCHABLE_VERSION = 0  # versions start at 1


def etag(item: Item) -> str:
    return f'"{item.version}"'


async def valid_item(
    item_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Item:
    """The item, if the caller may see it. Someone else's item is a 404, like a missing one,
    so ids cannot be probed for existence."""
    item = await service.get(session, item_id)
    if item is None or not (principal.is_superuser or item.owner_id == principal.user_id):
        raise ItemNotFoundError
    return item


OwnedItem = Annotated[Item, Depends(valid_item)]


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
    match = _ETAG.match(if_match.strip())
    return int(match.group(1)) if match is not None else UNMATCHABLE_VERSION


ExpectedVersion = Annotated[int | None, Depends(if_match_version)]
