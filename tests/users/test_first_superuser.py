"""The first superuser is created once, from settings, by a command, holding the admin role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import create_superuser
from app.users.models import Role, User, UserRole
from tests.conftest import SettingsFactory


async def test_create_superuser_is_idempotent(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        FIRST_SUPERUSER_EMAIL="Root@Example.com", FIRST_SUPERUSER_PASSWORD="root-password-long"
    )
    assert await create_superuser(settings) is True
    assert await create_superuser(settings) is False
    engine = create_async_engine(settings.DATABASE_URL)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(User.email, Role.name)
                    .outerjoin(UserRole, UserRole.user_id == User.id)
                    .outerjoin(Role, Role.id == UserRole.role_id)
                )
            ).all()
            await connection.execute(User.__table__.delete())
            await connection.commit()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("root@example.com", "admin")]
