"""Refresh tokens: a login starts a session (a family of tokens); each refresh uses up the
token presented and hands out the next; a used token presented again means it was stolen or
replayed, so the whole family is revoked. Only digests are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.security import digest, new_secret
from app.users.exceptions import InvalidRefreshTokenError, RefreshTokenReusedError
from app.users.models import RefreshToken, User
from app.users.service import revoke_tokens


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    token: str
    expires_in: int


async def _issue(
    session: AsyncSession, user: User, family: str, lifetime: timedelta
) -> IssuedRefreshToken:
    token = new_secret()
    session.add(
        RefreshToken(
            user_id=user.id,
            family=family,
            token_hash=digest(token),
            generation=user.token_generation,
            expires_at=utcnow() + lifetime,
        )
    )
    await session.flush()
    return IssuedRefreshToken(token, int(lifetime.total_seconds()))


async def start(session: AsyncSession, user: User, lifetime: timedelta) -> IssuedRefreshToken:
    """A new session for a login: the first token of a new family."""
    return await _issue(session, user, digest(new_secret()), lifetime)


async def rotate(
    session: AsyncSession, presented: str, lifetime: timedelta
) -> tuple[User, IssuedRefreshToken]:
    """The account and its next refresh token, using up the one presented. The token must be
    unused, unexpired, of the account's current token generation, and the account active."""
    found = (
        await session.execute(
            select(RefreshToken, User)
            .join(User, User.id == RefreshToken.user_id)
            .where(RefreshToken.token_hash == digest(presented))
        )
    ).first()
    if found is None:
        raise InvalidRefreshTokenError
    token, user = found
    now = utcnow()
    # Mark it used only if nobody did first: of two uses, exactly one wins.
    used = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        await _revoke_family(session, token.family)
        raise RefreshTokenReusedError
    current = token.generation == user.token_generation and user.is_active
    if token.expires_at <= now or not current:
        raise InvalidRefreshTokenError
    return user, await _issue(session, user, token.family, lifetime)


async def _revoke_family(session: AsyncSession, family: str) -> None:
    await session.execute(delete(RefreshToken).where(RefreshToken.family == family))


async def end(session: AsyncSession, presented: str) -> None:
    """Log out of the session the token belongs to (an unknown token: nothing to end)."""
    family = await session.scalar(
        select(RefreshToken.family).where(RefreshToken.token_hash == digest(presented))
    )
    if family is not None:
        await _revoke_family(session, family)


async def end_all(session: AsyncSession, user: User) -> None:
    """Log out everywhere: every session ends and every access token is refused at once."""
    revoke_tokens(user)
    await session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    await session.flush()


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete the refresh tokens past their expiry; how many went."""
    result = await session.execute(
        delete(RefreshToken).where(RefreshToken.expires_at <= (now or utcnow()))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
