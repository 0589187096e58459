"""HTTP for items. Thin: the dependencies load and authorize, the service holds the rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.core.conditional import ETAG_HEADER, ExpectedVersion, IfNoneMatch, etag, is_current
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.jobs.models import Job
from app.items import service
from app.items.dependencies import OwnedItem, ReadableItem, Reader, Writer
from app.items.models import Item
from app.items.schemas import ItemCreate, ItemPage, ItemQuery, ItemRead, ItemReplace, ItemUpdate
from app.jobs.dependencies import Idempotent
from app.jobs.schemas import JobRead

router = APIRouter(prefix="/items", tags=["items"])

READ = problem_responses(401, 403, 404)
WRITE = problem_responses(401, 403, 404, 412)


@router.post(
    "",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **problem_responses(401, 403, 409, 422),
        201: {
            "description": "Created",
            "headers": {**ETAG_HEADER, "Location": {"schema": {"type": "string"}}},
        },
    },
    dependencies=[Idempotent],
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
    # The new item's path under the collection the client posted to (no route lookup).
    response.headers["Location"] = f"{request.url.path}/{item.id}"
    response.headers["ETag"] = etag(item.version)
    return item


@router.post(
    "/exports",
    response_model=JobRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **problem_responses(401, 403, 409, 422),
        202: {
            "description": "Accepted: `Location` is the job, done with the export as its result",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
    },
    dependencies=[Idempotent],
)
async def export_items(
    principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> Job:
    """Export the caller's items in the background; poll the job in `Location`."""
    job = await service.export(session, settings, principal)
    response.headers["Location"] = str(request.url_for("read_job", job_id=job.id).path)
    return job


@router.get("", response_model=ItemPage, responses=problem_responses(401, 403))
async def list_items(
    query: Annotated[ItemQuery, Query()],
    principal: Reader,
    session: SessionDep,
) -> dict[str, object]:
    """The caller's items (everyone's with items:read_all), one keyset page at a time."""
    items, next_cursor = await service.list_page(session, principal, query)
    # The rows as they are: `response_model` validates and serializes them once.
    return {"items": items, "next_cursor": next_cursor}


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
    item: ReadableItem, response: Response, if_none_match: IfNoneMatch = None
) -> Item | ItemRead | Response:
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
