"""Load-and-authorize, resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.cache import app_cache
from app.core.db import SessionDep
from app.core.principal import Principal, may_see
from app.core.schemas import RowId
from app.items import service
from app.items.exceptions import ItemNotFoundError
from app.items.models import Item
from app.items.permissions import ITEMS
from app.items.schemas import ItemRead
from app.users.dependencies import RequirePermission

Reader = Annotated[Principal, Depends(RequirePermission(ITEMS.read))]
Writer = Annotated[Principal, Depends(RequirePermission(ITEMS.write))]

CACHE_NAMESPACE = "items"


async def owned_item(
    item_id: RowId, session: SessionDep, principal: Writer, request: Request
) -> Item:
    """The item, if the caller may change it (its own, or everyone's with items:write_all):
    its cached copy, if any, is invalidated when the request commits. Someone else's item is
    a 404, like a missing one, so ids cannot be probed for existence."""
    item = await service.get_visible(session, principal, item_id, everyones=ITEMS.write_all)
    if item is None:
        raise ItemNotFoundError
    cache = app_cache(request)
    if cache is not None:
        cache.invalidate_after_commit(session, CACHE_NAMESPACE, str(item_id))
    return item


async def readable_item(
    item_id: RowId, session: SessionDep, principal: Reader, request: Request
) -> Item | ItemRead:
    """The item, if the caller may read it (its own, or everyone's with items:read_all):
    from the cache when it is on."""
    cache = app_cache(request)
    item: Item | ItemRead | None
    if cache is None:
        item = await service.get_visible(session, principal, item_id, everyones=ITEMS.read_all)
    else:

        async def load() -> bytes | None:
            row = await service.get(session, item_id)
            return None if row is None else ItemRead.model_validate(row).model_dump_json().encode()

        found = await cache.get(CACHE_NAMESPACE, str(item_id), load)
        read = None if found is None else ItemRead.model_validate_json(found)
        visible = read is not None and may_see(principal, read.owner_id, ITEMS.read_all)
        item = read if visible else None
    if item is None:
        raise ItemNotFoundError
    return item


OwnedItem = Annotated[Item, Depends(owned_item)]
ReadableItem = Annotated[Item | ItemRead, Depends(readable_item)]
