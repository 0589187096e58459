"""HTTP for permissions and roles: what exists, and who holds what (users:admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.permissions import declared, held_by_everyone
from app.core.schemas import RowId
from app.users import roles
from app.users.dependencies import AdminPrincipal, CurrentPrincipal, ValidUser
from app.users.exceptions import RoleNotFoundError
from app.users.models import Role
from app.users.schemas import PermissionRead, RoleCreate, RoleRead, RoleUpdate, UserRoles

router = APIRouter(tags=["roles"])
ADMIN = problem_responses(401, 403)  # any signed-in route can answer both


async def valid_role(role_id: RowId, session: SessionDep, _: AdminPrincipal) -> Role:
    role = await roles.get(session, role_id)
    if role is None:
        raise RoleNotFoundError
    return role


ValidRole = Annotated[Role, Depends(valid_role)]


@router.get("/permissions", response_model=list[PermissionRead], responses=ADMIN)
async def list_permissions(_: CurrentPrincipal) -> list[PermissionRead]:
    """Every permission the service's domains declare, for building roles and keys."""
    everyone = held_by_everyone()
    return [
        PermissionRead(name=name, description=text, held_by_everyone=name in everyone)
        for name, text in declared().items()
    ]


@router.get("/users/me/permissions", response_model=list[str], responses=ADMIN)
async def my_permissions(principal: CurrentPrincipal) -> list[str]:
    """The permissions this request holds (`*`: every one)."""
    return sorted(principal.permissions)


@router.get("/roles", response_model=list[RoleRead], responses=ADMIN)
async def list_roles(session: SessionDep, _: AdminPrincipal) -> list[Role]:
    """Every role, by name (users:admin)."""
    return await roles.list_all(session)


@router.post(
    "/roles",
    response_model=RoleRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409),
)
async def create_role(data: RoleCreate, session: SessionDep, _: AdminPrincipal) -> Role:
    """A new role bundling declared permissions (users:admin)."""
    return await roles.create(session, data)


@router.get(
    "/roles/{role_id:int}", response_model=RoleRead, responses=problem_responses(401, 403, 404)
)
async def read_role(role: ValidRole) -> Role:
    return role


@router.patch(
    "/roles/{role_id:int}", response_model=RoleRead, responses=problem_responses(401, 403, 404, 409)
)
async def update_role(changes: RoleUpdate, role: ValidRole, session: SessionDep) -> Role:
    """Change a role's description or permissions; its holders have the new ones at their
    next request. The built-in `admin` role cannot change."""
    return await roles.update(session, role, changes)


@router.delete(
    "/roles/{role_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_role(role: ValidRole, session: SessionDep) -> Response:
    """Delete a role; its holders lose it at their next request (not `admin`)."""
    await roles.delete(session, role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users/{user_id:int}/roles",
    response_model=UserRoles,
    responses=problem_responses(401, 403, 404),
)
async def read_user_roles(user: ValidUser, session: SessionDep) -> UserRoles:
    return UserRoles(roles=await roles.names_of(session, user.id))


@router.put(
    "/users/{user_id:int}/roles",
    response_model=UserRoles,
    responses=problem_responses(401, 403, 404),
)
async def set_user_roles(data: UserRoles, user: ValidUser, session: SessionDep) -> UserRoles:
    """Give the account exactly these roles (by name); it holds them at its next request."""
    return UserRoles(roles=await roles.set_for_user(session, user, data.roles))
