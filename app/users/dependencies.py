"""Who is calling: principals resolved from a bearer token or the service token.

Other domains use these (never the users' models) to know the caller and its rights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from app.core.config import get_settings, request_settings
from app.core.db import SessionDep
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


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a signed-in user, or a trusted internal service (no account)."""

    user: User | None
    is_service: bool = False

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def is_superuser(self) -> bool:
        return self.is_service or (self.user is not None and self.user.is_superuser)


async def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    service_token: Annotated[str | None, Depends(service_token_scheme)],
) -> Principal:
    settings = request_settings(request)
    if service_token is not None:
        if is_valid_service_token(service_token, settings.service_token):
            return Principal(user=None, is_service=True)
        raise InvalidTokenError("the service token is not valid")
    if bearer is None:
        raise NotAuthenticatedError("send a bearer token or the service token")
    try:
        subject = decode_access_token(bearer, settings.SECRET_KEY.get_secret_value())
    except MalformedTokenError:
        raise InvalidTokenError from None
    user = await service.get(session, int(subject)) if subject.isdecimal() else None
    if user is None or not user.is_active:
        raise InvalidTokenError
    return Principal(user=user)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    """A caller with an account (the service caller has none)."""
    if principal.user is None:
        raise ServiceCallerHasNoAccountError
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_superuser_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_superuser:
        raise NotSuperuserError
    return principal


SuperuserPrincipal = Annotated[Principal, Depends(get_superuser_principal)]


async def valid_user(
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    _: SuperuserPrincipal,
) -> User:
    """The user named in the path, for superusers; 404 when it does not exist."""
    user = await service.get(session, user_id)
    if user is None:
        raise UserNotFoundError
    return user


ValidUser = Annotated[User, Depends(valid_user)]
