"""Roles: named bundles of permissions that accounts hold. Every request reads a caller's
roles afresh, so granting, taking away or editing a role applies at the next request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.permissions import ALL, held_by_everyone, is_grantable
from app.users.exceptions import (
    RoleExistsError,
    RoleProtectedError,
    UnknownPermissionError,
    UnknownRoleError,
)
from app.users.models import Role, User, UserRole
from app.users.schemas import RoleCreate, RoleUpdate

ADMIN_ROLE = "admin"


def permission_set(texts: Iterable[str | None]) -> frozenset[str]:
    """What the stored permission texts of some roles add up to, plus what everyone holds."""
    held = set(held_by_everyone())
    for text in texts:
        held.update((text or "").split())
    return frozenset(held)


@dataclass(frozen=True)
class Standing:
    """An account as a credential sees it now: may it act, at which token generation, with
    which rights."""

    is_active: bool
    token_generation: int
    permissions: frozenset[str]


def _with_roles(*columns: Any) -> Select[Any]:
    """`columns` of one account (the bound `user_id`), a row per role it holds."""
    return (
        select(*columns)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .outerjoin(Role, Role.id == UserRole.role_id)
        .where(User.id == bindparam("user_id"))
    )


# Built once: every authenticated request runs one, and building a statement and its cache
# key per request costs more than the query itself.
_STANDING = _with_roles(User.is_active, User.token_generation, Role.permissions)
_ACCOUNT = _with_roles(User, Role.permissions)


async def standing_of(session: AsyncSession, user_id: int) -> Standing | None:
    """The account's standing and every permission it holds, in one query of plain columns
    (None: no such account)."""
    connection = await session.connection()
    rows = (await connection.execute(_STANDING, {"user_id": user_id})).all()
    if not rows:
        return None
    is_active, generation, _ = rows[0]
    return Standing(is_active, generation, permission_set(row[2] for row in rows))


async def account_of(session: AsyncSession, user_id: int) -> tuple[User, Standing] | None:
    """The account's row and its standing, in one query (None: no such account)."""
    rows = (await session.execute(_ACCOUNT, {"user_id": user_id})).all()
    if not rows:
        return None
    user: User = rows[0][0]
    held = permission_set(row[1] for row in rows)
    return user, Standing(user.is_active, user.token_generation, held)


def _checked(permissions: Iterable[str]) -> str:
    names = sorted(set(permissions))
    unknown = [name for name in names if not is_grantable(name)]
    if unknown:
        raise UnknownPermissionError(f"not declared: {', '.join(unknown)} (see GET /permissions)")
    return " ".join(names)


async def list_all(session: AsyncSession) -> list[Role]:
    return list(await session.scalars(select(Role).order_by(Role.name)))


async def get(session: AsyncSession, role_id: int) -> Role | None:
    return await session.get(Role, role_id)


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise RoleExistsError from None


async def create(session: AsyncSession, data: RoleCreate) -> Role:
    if await session.scalar(select(Role.id).where(Role.name == data.name)) is not None:
        raise RoleExistsError
    role = Role(
        name=data.name, description=data.description, permissions=_checked(data.permissions)
    )
    session.add(role)
    await _flush_unique(session)
    return role


async def update(session: AsyncSession, role: Role, changes: RoleUpdate) -> Role:
    if role.name == ADMIN_ROLE:
        raise RoleProtectedError
    if changes.description is not None:
        role.description = changes.description
    if changes.permissions is not None:
        role.permissions = _checked(changes.permissions)
    await session.flush()
    return role


async def delete(session: AsyncSession, role: Role) -> None:
    if role.name == ADMIN_ROLE:
        raise RoleProtectedError
    await session.delete(role)
    await session.flush()


async def names_of(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(
        select(Role.name)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
        .order_by(Role.name)
    )
    return list(rows)


async def set_for_user(session: AsyncSession, user: User, names: Iterable[str]) -> list[str]:
    """Give the account exactly these roles (by name)."""
    wanted = sorted(set(names))
    rows = await session.execute(select(Role.name, Role.id).where(Role.name.in_(wanted)))
    found = {row.name: row.id for row in rows}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise UnknownRoleError(f"no role named {', '.join(missing)}")
    await session.execute(delete_rows(UserRole).where(UserRole.user_id == user.id))
    session.add_all(UserRole(user_id=user.id, role_id=found[name]) for name in wanted)
    await session.flush()
    return wanted


async def admin_role(session: AsyncSession) -> Role:
    """The built-in role holding every permission (made by the migration; again if gone)."""
    role = await session.scalar(select(Role).where(Role.name == ADMIN_ROLE))
    if role is None:
        role = Role(name=ADMIN_ROLE, description="Every permission", permissions=ALL)
        session.add(role)
        await _flush_unique(session)
    return role


async def grant(session: AsyncSession, user: User, role: Role) -> None:
    if await session.get(UserRole, (user.id, role.id)) is None:
        session.add(UserRole(user_id=user.id, role_id=role.id))
        await session.flush()
