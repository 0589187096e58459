"""Load-and-authorize, resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.db import SessionDep
from app.core.principal import Principal
from app.core.schemas import RowId
from app.items import service
from app.items.exceptions import ItemNotFoundError
from app.items.models import Item
from app.items.permissions import ITEMS
from app.users.dependencies import RequirePermission

Reader = Annotated[Principal, Depends(RequirePermission(ITEMS.read))]
Writer = Annotated[Principal, Depends(RequirePermission(ITEMS.write))]


async def visible_item(item_id: RowId, session: SessionDep, principal: Reader) -> Item:
    """The item, if the caller may read it. Someone else's item is a 404, like a missing one,
    so ids cannot be probed for existence."""
    item = await service.get_visible(session, principal, item_id, everyones=ITEMS.read_all)
    if item is None:
        raise ItemNotFoundError
    return item


async def owned_item(item_id: RowId, session: SessionDep, principal: Writer) -> Item:
    """The item, if the caller may change it (its own, or everyone's with items:write_all)."""
    item = await service.get_visible(session, principal, item_id, everyones=ITEMS.write_all)
    if item is None:
        raise ItemNotFoundError
    return item


VisibleItem = Annotated[Item, Depends(visible_item)]
OwnedItem = Annotated[Item, Depends(owned_item)]
