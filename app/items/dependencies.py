"""Load-and-authorize, resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.core.db import SessionDep
from app.core.schemas import RowId
from app.items import service
from app.items.exceptions import ItemNotFoundError
from app.items.models import Item
from app.users.dependencies import CurrentPrincipal


async def owned_item(item_id: RowId, session: SessionDep, principal: CurrentPrincipal) -> Item:
    """The item, if the caller may see it. Someone else's item is a 404, like a missing one,
    so ids cannot be probed for existence."""
    item = await service.get_visible(session, principal, item_id)
    if item is None:
        raise ItemNotFoundError
    return item


OwnedItem = Annotated[Item, Depends(owned_item)]
