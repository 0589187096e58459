"""The first superuser is created once, from settings, by a command, holding the admin role."""

from __future__ import annotations

from app.cli import create_superuser
from tests.conftest import SettingsFactory
from tests.factories import accounts_and_roles


async def test_create_superuser_is_idempotent(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        FIRST_SUPERUSER_EMAIL="Root@Example.com", FIRST_SUPERUSER_PASSWORD="root-password-long"
    )
    assert await create_superuser(settings) is True
    assert await create_superuser(settings) is False
    assert await accounts_and_roles(settings.DATABASE_URL) == [("root@example.com", "admin")]
