"""HTTP for accounts and login. Thin: validation in schemas and dependencies, rules in service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.ratelimit import check_login
from app.users import auth_routes, key_routes, role_routes, service
from app.users.dependencies import AdminPrincipal, CurrentUser, SignedInUser, ValidUser
from app.users.models import User
from app.users.schemas import (
    PasswordChange,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
    UserUpdateMe,
)

router = APIRouter()
for part in (auth_routes, role_routes, key_routes):
    router.include_router(part.router)
AUTHENTICATED = problem_responses(401, 403)


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses=problem_responses(403, 409, 503),
)
async def sign_up(
    data: UserCreate, session: SessionDep, settings: SettingsDep, request: Request
) -> User:
    """Create an account (when `OPEN_REGISTRATION` is on), holding no role.
    Limited like logins (`RATE_LIMIT_LOGIN`), so addresses cannot be probed faster."""
    await check_login(request, data.email)
    return await service.sign_up(
        session,
        data,
        registration_open=settings.OPEN_REGISTRATION,
        min_password_length=settings.PASSWORD_MIN_LENGTH,
    )


@router.get("/users/me", response_model=UserRead, tags=["users"], responses=AUTHENTICATED)
async def read_me(user: CurrentUser) -> User:
    """The signed-in user."""
    return user


@router.patch(
    "/users/me",
    response_model=UserRead,
    tags=["users"],
    responses=problem_responses(401, 403, 409),
)
async def update_me(changes: UserUpdateMe, user: SignedInUser, session: SessionDep) -> User:
    """Change your own email or name (never your roles); signed in with a password, not a
    key."""
    return await service.update_me(session, user, changes)


@router.post(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(400, 401, 403),
)
async def change_password(
    change: PasswordChange,
    user: SignedInUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """Change your password; the current one is required, and guesses count as logins."""
    await check_login(request, user.email)
    await service.change_password(
        session, user, change, min_password_length=settings.PASSWORD_MIN_LENGTH
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users", response_model=UserPage, tags=["users"], responses=AUTHENTICATED)
async def list_users(
    session: SessionDep,
    _: AdminPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> UserPage:
    """Every account, oldest first (users:admin)."""
    users, total = await service.list_page(session, limit=limit, offset=offset)
    return UserPage(
        items=[UserRead.model_validate(u) for u in users], total=total, limit=limit, offset=offset
    )


@router.get(
    "/users/{user_id:int}",
    response_model=UserRead,
    tags=["users"],
    responses=problem_responses(401, 403, 404),
)
async def read_user(user: ValidUser) -> User:
    """One account (users:admin)."""
    return user


@router.patch(
    "/users/{user_id:int}",
    response_model=UserRead,
    tags=["users"],
    responses=problem_responses(401, 403, 404, 409),
)
async def update_user(
    changes: UserUpdate, user: ValidUser, session: SessionDep, settings: SettingsDep
) -> User:
    """Change any account (users:admin). A new password or a deactivation ends its
    sessions at once."""
    return await service.update(
        session, user, changes, min_password_length=settings.PASSWORD_MIN_LENGTH
    )


@router.delete(
    "/users/{user_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(401, 403, 404),
)
async def delete_user(user: ValidUser, session: SessionDep) -> Response:
    """Delete an account and, by cascade, everything it owns."""
    await service.delete(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
