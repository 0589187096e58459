"""Small factories: accounts made through the service, tokens through the real login."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings
from app.users import service as users
from app.users.models import Role, User, UserRole
from app.users.schemas import UserCreate

DEFAULT_PASSWORD = "correct-horse-battery-staple"


@dataclass
class Account:
    id: int
    email: str
    password: str
    headers: dict[str, str]


async def create_user(
    application: FastAPI,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_superuser: bool = False,
    is_active: bool = True,
) -> tuple[int, str]:
    """An account; `is_superuser` gives it the built-in admin role (every permission)."""
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    settings: Settings = application.state.settings
    async with application.state.session_factory() as session, session.begin():
        user = await users.create(
            session,
            UserCreate(email=email, password=password, full_name="Test User"),
            min_password_length=settings.PASSWORD_MIN_LENGTH,
            is_admin=is_superuser,
        )
        user.is_active = is_active
        return user.id, user.email


async def login(client: AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def account(
    application: FastAPI, client: AsyncClient, *, is_superuser: bool = False
) -> Account:
    user_id, email = await create_user(application, is_superuser=is_superuser)
    token = await login(client, email)
    return Account(user_id, email, DEFAULT_PASSWORD, {"Authorization": f"Bearer {token}"})


def service_headers(application: FastAPI) -> dict[str, str]:
    settings: Settings = application.state.settings
    return {"X-Token": settings.service_token}


async def accounts_and_roles(url: str) -> list[tuple[str, str | None]]:
    """(email, role name) of every account in the database at `url`, which is then emptied of
    accounts (for tests that ran the CLI in another process)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(User.email, Role.name)
                .outerjoin(UserRole, UserRole.user_id == User.id)
                .outerjoin(Role, Role.id == UserRole.role_id)
            )
            found = [(email, role) for email, role in rows]
            await connection.execute(User.__table__.delete())
            await connection.commit()
    finally:
        await engine.dispose()
    return found
