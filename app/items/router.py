"""HTTP for items. Thin: the dependencies load and authorize, the service holds the rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.core.conditional import ETAG_HEADER, ExpectedVersion, IfNoneMatch, etag, is_current
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.items import service
from app.items.dependencies import OwnedItem, Reader, VisibleItem, Writer
from app.items.models import Item
from app.items.schemas import ItemCreate, ItemPage, ItemQuery, ItemRead, ItemReplace, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])

READ = problem_responses(401, 403, 404)
WRITE = problem_responses(401, 403, 404, 412)


@router.post(
    "",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **problem_responses(401, 403, 409),
        201: {
            "description": "Created",
            "headers": {**ETAG_HEADER, "Location": {"schema": {"type": "string"}}},
        },
    },
)
async def create_item(
    data: ItemCreate,
    principal: Writer,
    session: SessionDep,
    request: Request,
    response: Response,
) -> Item:
    """Create an item owned by the caller (or, with items:write_all, by `owner_id`)."""
    item = await service.create(session, principal, data)
    response.headers["Location"] = str(request.url_for("read_item", item_id=item.id).path)
    response.headers["ETag"] = etag(item.version)
    return item


@router.get("", response_model=ItemPage, responses=problem_responses(401, 403))
async def list_items(
    query: Annotated[ItemQuery, Query()],
    principal: Reader,
    session: SessionDep,
) -> ItemPage:
    """The caller's items (everyone's with items:read_all), one keyset page at a time."""
    items, next_cursor = await service.list_page(session, principal, query)
    return ItemPage(items=[ItemRead.model_validate(i) for i in items], next_cursor=next_cursor)


@router.get(
    "/{item_id:int}",
    response_model=ItemRead,
    responses={
        **READ,
        200: {"description": "The item", "headers": ETAG_HEADER},
        304: {"description": "Not modified"},
    },
)
async def read_item(
    item: VisibleItem, response: Response, if_none_match: IfNoneMatch = None
) -> Item | Response:
    """One item; `If-None-Match` with its current ETag answers 304."""
    tag = etag(item.version)
    if is_current(if_none_match, item.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return item


@router.put(
    "/{item_id:int}",
    response_model=ItemRead,
    responses={**WRITE, 200: {"description": "Replaced", "headers": ETAG_HEADER}},
)
async def replace_item(
    data: ItemReplace,
    item: OwnedItem,
    expected_version: ExpectedVersion,
    session: SessionDep,
    response: Response,
) -> Item:
    """Replace the item's editable fields."""
    updated = await service.update(session, item, data, expected_version=expected_version)
    response.headers["ETag"] = etag(updated.version)
    return updated


@router.patch(
    "/{item_id:int}",
    response_model=ItemRead,
    responses={**WRITE, 200: {"description": "Updated", "headers": ETAG_HEADER}},
)
async def update_item(
    changes: ItemUpdate,
    item: OwnedItem,
    expected_version: ExpectedVersion,
    session: SessionDep,
    response: Response,
) -> Item:
    """Change the fields given."""
    updated = await service.update(session, item, changes, expected_version=expected_version)
    response.headers["ETag"] = etag(updated.version)
    return updated


@router.delete("/{item_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE)
async def delete_item(
    item: OwnedItem, expected_version: ExpectedVersion, session: SessionDep
) -> Response:
    """Delete the item."""
    await service.delete(session, item, expected_version=expected_version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
