"""HTTP for API keys: your own (signed in with a password), anyone's for users:admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.schemas import RowId
from app.users import api_keys
from app.users.dependencies import SignedInUser, ValidUser
from app.users.exceptions import ApiKeyNotFoundError
from app.users.models import ApiKey
from app.users.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead

router = APIRouter(tags=["api keys"])
MINE = problem_responses(401, 403)


async def _key_of(session: SessionDep, user_id: int, key_id: int) -> ApiKey:
    """The account's key, or 404 (another account's key too: ids are not probed)."""
    key = await api_keys.get_for(session, user_id, key_id)
    if key is None:
        raise ApiKeyNotFoundError
    return key


async def own_key(key_id: RowId, user: SignedInUser, session: SessionDep) -> ApiKey:
    return await _key_of(session, user.id, key_id)


async def users_key(key_id: RowId, user: ValidUser, session: SessionDep) -> ApiKey:
    return await _key_of(session, user.id, key_id)


@router.post(
    "/users/me/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403),
)
async def create_key(
    data: ApiKeyCreate, user: SignedInUser, session: SessionDep, response: Response
) -> ApiKeyCreated:
    """A new key acting for you within `scopes` (declared permissions; it never holds more
    than you do when it is used). The key is in this answer only: store it now."""
    response.headers["Cache-Control"] = "no-store"
    row, key = await api_keys.create(session, user, data)
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


@router.get("/users/me/api-keys", response_model=list[ApiKeyRead], responses=MINE)
async def list_my_keys(user: SignedInUser, session: SessionDep) -> list[ApiKey]:
    """Your keys (never the keys themselves: they are not stored)."""
    return await api_keys.list_for(session, user.id)


@router.delete(
    "/users/me/api-keys/{key_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def revoke_my_key(key: Annotated[ApiKey, Depends(own_key)], session: SessionDep) -> Response:
    """Revoke one of your keys: refused from its next request on."""
    await api_keys.revoke(session, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users/{user_id:int}/api-keys",
    response_model=list[ApiKeyRead],
    responses=problem_responses(401, 403, 404),
)
async def list_users_keys(user: ValidUser, session: SessionDep) -> list[ApiKey]:
    """An account's keys (users:admin)."""
    return await api_keys.list_for(session, user.id)


@router.delete(
    "/users/{user_id:int}/api-keys/{key_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def revoke_users_key(
    key: Annotated[ApiKey, Depends(users_key)], session: SessionDep
) -> Response:
    """Revoke an account's key (users:admin)."""
    await api_keys.revoke(session, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
