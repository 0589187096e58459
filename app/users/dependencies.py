"""Who is calling: principals resolved from a bearer token or the service token.

Other domains use these (never the users' models) to know the caller and its rights.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings, request_settings
from app.core.db import SessionDep
from app.core.principal import SERVICE_PRINCIPAL, Principal
from app.core.schemas import MAX_ID, RowId
from app.core.security import InvalidTokenError as MalformedTokenError
from app.core.security import decode_access_token, is_valid_service_token
from app.users import service
from app.users.exceptions import (
    InvalidTokenError,
    NotAuthenticatedError,
    NotSuperuserError,
    ServiceCallerHasNoAccountError,
    UserNotFoundError,
)
from app.users.models import User

SERVICE_TOKEN_HEADER = "X-Token"  # noqa: S105 (a header name)

# The token URL only feeds the OpenAPI document (Swagger's Authorize button).
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=f"{get_settings().api_prefix}/auth/token", auto_error=False
)
service_token_scheme = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    auto_error=False,
    description="Service token for trusted internal callers (superuser rights)",
)


_LOADED_ACCOUNT = "users.principal_account"


async def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    service_token: Annotated[str | None, Depends(service_token_scheme)],
) -> Principal:
    """Who is calling, from the service token or a bearer token.

    A bearer token names an account and the account's token generation when it was issued.
    The account is read on every request: it must exist, be active and still be at that
    generation. A password change or reset, a deactivation, a role change or "log out
    everywhere" moves the generation on, so every token issued before is refused at once, by
    every worker and replica (the database is the one place they all read).
    """
    settings = request_settings(request)
    if service_token is not None:
        if is_valid_service_token(service_token, settings.service_token):
            return SERVICE_PRINCIPAL
        raise InvalidTokenError("the service token is not valid")
    if bearer is None:
        raise NotAuthenticatedError("send a bearer token or the service token")
    try:
        claims = decode_access_token(bearer, settings.SECRET_KEY.get_secret_value())
    except MalformedTokenError:
        raise InvalidTokenError from None
    subject = claims.subject
    valid = subject.isascii() and subject.isdigit() and len(subject) <= len(str(MAX_ID))
    if not (valid and 0 < int(subject) <= MAX_ID):
        raise InvalidTokenError  # signed, but no id an account can have
    user = await _active_user(session, int(subject))
    if user.token_generation != claims.generation:
        raise InvalidTokenError  # revoked: issued before the account's last revocation
    # The identity map holds rows weakly: keep this one, so `CurrentUser` in the same request
    # finds it there instead of reading the account a second time.
    session.info[_LOADED_ACCOUNT] = user
    return Principal(user_id=user.id, is_superuser=user.is_superuser)


async def _active_user(session: AsyncSession, user_id: int) -> User:
    user = await service.get(session, user_id)
    if user is None or not user.is_active:
        raise InvalidTokenError
    return user


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal, session: SessionDep) -> User:
    """The caller's account, read now (never from the cache), for routes that need the row:
    a missing or deactivated account is refused like a bad token. The service caller has
    none."""
    if principal.user_id is None:
        raise ServiceCallerHasNoAccountError
    return await _active_user(session, principal.user_id)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_superuser_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_superuser:
        raise NotSuperuserError
    return principal


SuperuserPrincipal = Annotated[Principal, Depends(get_superuser_principal)]


async def valid_user(
    user_id: RowId,
    session: SessionDep,
    _: SuperuserPrincipal,
) -> User:
    """The user named in the path, for superusers; 404 when it does not exist."""
    user = await service.get(session, user_id)
    if user is None:
        raise UserNotFoundError
    return user


ValidUser = Annotated[User, Depends(valid_user)]
