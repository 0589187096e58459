"""API keys: credentials for machines, each acting for the account that made it, within the
permissions it was given (and never beyond what the account holds at the time of use)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.permissions import ALL, is_grantable
from app.core.principal import Principal
from app.core.security import digest, new_secret
from app.users import roles
from app.users.exceptions import InvalidApiKeyError, UnknownPermissionError
from app.users.models import ApiKey, User
from app.users.schemas import ApiKeyCreate

KEY_PREFIX = "sk_"
SHOWN_PREFIX_LENGTH = 10
# Noting each use would write on every request: the time is updated at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def create(session: AsyncSession, user: User, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """The new key's row and the key itself (returned this once; only its digest is kept)."""
    unknown = sorted(scope for scope in set(data.scopes) if not is_grantable(scope))
    if unknown:
        raise UnknownPermissionError(f"not declared: {', '.join(unknown)} (see GET /permissions)")
    key = new_secret(KEY_PREFIX)
    row = ApiKey(
        user_id=user.id,
        name=data.name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=digest(key),
        scopes=" ".join(sorted(set(data.scopes))),
        expires_at=data.expires_at,
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_for(session: AsyncSession, user_id: int) -> list[ApiKey]:
    return list(
        await session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
    )


async def get_for(session: AsyncSession, user_id: int, key_id: int) -> ApiKey | None:
    key = await session.get(ApiKey, key_id)
    return key if key is not None and key.user_id == user_id else None


async def revoke(session: AsyncSession, key: ApiKey) -> None:
    await session.delete(key)
    await session.flush()


async def authenticate(session: AsyncSession, presented: str) -> Principal:
    """The principal a key acts as: its account, which must be active, with the key's scopes
    that the account holds now. A missing, expired or foreign-looking key is refused."""
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(presented)))
    now = utcnow()
    if key is None or (key.expires_at is not None and key.expires_at <= now):
        raise InvalidApiKeyError
    standing = await roles.standing_of(session, key.user_id)
    if standing is None or not standing.is_active:
        raise InvalidApiKeyError
    held = Principal(user_id=key.user_id, permissions=standing.permissions)
    scopes = set(key.scopes.split())
    granted = held.permissions if ALL in scopes else {s for s in scopes if held.has(s)}
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        await session.flush()
    return Principal(user_id=key.user_id, permissions=frozenset(granted), via="api_key")
