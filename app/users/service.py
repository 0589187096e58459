"""Business rules of accounts. Functions take the session first and only flush: the request's
session dependency commits once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password, verify_password
from app.users import roles
from app.users.exceptions import (
    EmailAlreadyRegisteredError,
    InvalidCredentialsError,
    RegistrationClosedError,
    WeakPasswordError,
    WrongCurrentPasswordError,
)
from app.users.models import User
from app.users.schemas import (
    PASSWORD_MAX_LENGTH,
    PasswordChange,
    UserCreate,
    UserUpdate,
    UserUpdateMe,
)

# An admin's change to one of these ends the account's sessions (a password reset does too;
# roles need not: every request reads them afresh).
REVOKING_FIELDS = ("is_active",)


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email.lower()))
    return result.scalar_one_or_none()


def revoke_tokens(user: User) -> None:
    """Refuse every token issued to the account so far, on every worker at once: each request
    compares its token's generation with the account's."""
    user.token_generation += 1


def _check_strength(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise WeakPasswordError(f"the password needs at least {min_length} characters")


async def _flush_unique(session: AsyncSession, email: str) -> None:
    """Flush, turning a lost race on the unique email into the domain's 409."""
    try:
        await session.flush()
    except IntegrityError:
        raise EmailAlreadyRegisteredError from None


async def create(
    session: AsyncSession,
    data: UserCreate,
    *,
    min_password_length: int,
    is_admin: bool = False,
) -> User:
    _check_strength(data.password, min_password_length)
    if await get_by_email(session, data.email) is not None:
        raise EmailAlreadyRegisteredError
    user = User(
        email=data.email.lower(),
        full_name=data.full_name,
        hashed_password=await hash_password(data.password),
        is_active=True,
    )
    session.add(user)
    await _flush_unique(session, user.email)
    if is_admin:
        await roles.grant(session, user, await roles.admin_role(session))
    return user


async def sign_up(
    session: AsyncSession, data: UserCreate, *, registration_open: bool, min_password_length: int
) -> User:
    """A new account of its own making: no role, and only while sign-up is open."""
    if not registration_open:
        raise RegistrationClosedError
    return await create(session, data, min_password_length=min_password_length)


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with these credentials; one error for every failure (no enumeration).

    A missing account still costs one hash verification, so timing does not tell either; a
    password longer than any we store is refused before hashing (it bounds the cost).
    Stored hashes with outdated parameters are replaced on success.
    """
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidCredentialsError
    user = await get_by_email(session, email)
    matches, new_hash = await verify_password(password, user.hashed_password if user else None)
    if user is None or not matches or not user.is_active:
        raise InvalidCredentialsError
    if new_hash is not None:
        user.hashed_password = new_hash
        await session.flush()
    return user


async def update_me(session: AsyncSession, user: User, changes: UserUpdateMe) -> User:
    data = changes.model_dump(exclude_unset=True, exclude_none=True)
    return await _apply(session, user, data)


async def update(
    session: AsyncSession, user: User, changes: UserUpdate, *, min_password_length: int
) -> User:
    data = changes.model_dump(exclude_unset=True, exclude_none=True)
    password = data.pop("password", None)
    if password is not None:
        _check_strength(password, min_password_length)
        user.hashed_password = await hash_password(password)
    if password is not None or any(
        field in data and data[field] != getattr(user, field) for field in REVOKING_FIELDS
    ):
        revoke_tokens(user)
    return await _apply(session, user, data)


async def _apply(session: AsyncSession, user: User, data: dict[str, object]) -> User:
    email = data.get("email")
    if isinstance(email, str) and email != user.email:
        existing = await get_by_email(session, email)
        if existing is not None and existing.id != user.id:
            raise EmailAlreadyRegisteredError
    for field, value in data.items():
        setattr(user, field, value)
    await _flush_unique(session, user.email)
    return user


async def change_password(
    session: AsyncSession, user: User, change: PasswordChange, *, min_password_length: int
) -> None:
    matches, _ = await verify_password(change.current_password, user.hashed_password)
    if not matches:
        raise WrongCurrentPasswordError
    _check_strength(change.new_password, min_password_length)
    user.hashed_password = await hash_password(change.new_password)
    revoke_tokens(user)
    await session.flush()


async def delete(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[User], int]:
    total = await session.scalar(select(func.count()).select_from(User))
    rows = await session.scalars(select(User).order_by(User.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def ensure_superuser(
    session: AsyncSession, email: str, password: str, *, min_password_length: int
) -> tuple[User, bool]:
    """The first superuser, created once and given the admin role; (user, created). An
    existing account is left as is."""
    existing = await get_by_email(session, email)
    if existing is not None:
        return existing, False
    user = await create(
        session,
        UserCreate(email=email, password=password, full_name="Administrator"),
        min_password_length=min_password_length,
        is_admin=True,
    )
    return user, True
