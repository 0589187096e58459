"""Who is calling, and what it may do: principals resolved from a bearer token, an API key or
the service token, and `RequirePermission`, which routers declare.

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
from app.core.ratelimit import check_secret_failures, count_secret_failure
from app.core.schemas import MAX_ID, RowId
from app.core.security import InvalidTokenError as MalformedTokenError
from app.core.security import decode_access_token, is_valid_service_token
from app.users import api_keys, roles, service
from app.users.exceptions import (
    InvalidApiKeyError,
    InvalidTokenError,
    NotAuthenticatedError,
    PermissionDeniedError,
    ServiceCallerHasNoAccountError,
    SessionRequiredError,
    UserNotFoundError,
)
from app.users.models import User
from app.users.permissions import USERS_ADMIN

SERVICE_TOKEN_HEADER = "X-Token"  # noqa: S105 (a header name)
API_KEY_HEADER = "X-API-Key"

# The credentials as the OpenAPI document declares them (`PrincipalResolver.openapi_schemes`):
# Swagger's Authorize dialog offers each, and every authenticated operation lists them as
# alternatives. They are not dependencies: solving three more per request cost 4-7% of an
# item request. Each needs its own `scheme_name` (two `APIKeyHeader`s would share one).
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=f"{get_settings().api_prefix}/auth/token",
    scheme_name="OAuth2PasswordBearer",
    auto_error=False,
)
service_token_scheme = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    scheme_name="ServiceToken",
    auto_error=False,
    description="The bootstrap service token (X_TOKEN): one shared secret with every right",
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    auto_error=False,
    description="An API key (POST /users/me/api-keys): its owner's rights within its scopes",
)


class PrincipalResolver:
    """Who is calling: the service token, else an API key, else a bearer token. Every
    credential the request carries must be valid: a wrong one is 401 whatever else it sends.

    A bearer token names an account and the account's token generation when it was issued.
    The account and its roles are read on every request: it must exist, be active and still
    be at that generation. A password change or reset, a deactivation or "log out
    everywhere" moves the generation on, so every token issued before is refused at once, by
    every worker and replica (the database is the one place they all read); a role granted
    or taken away applies at the next request. Wrong secrets count against the client's
    address like wrong passwords do.

    `loads_account`: the same check also loads the account's row, for routes that need it
    (`CurrentUser`); the others read plain columns, which costs less.
    """

    openapi_schemes = (oauth2_scheme, service_token_scheme, api_key_scheme)

    def __init__(self, *, loads_account: bool = False) -> None:
        self.loads_account = loads_account

    async def __call__(
        self,
        request: Request,
        session: SessionDep,
    ) -> Principal:
        # A credential header sent at all is checked, an empty or malformed one too.
        headers = request.headers
        found: list[Principal] = []
        if (service_token := headers.get(SERVICE_TOKEN_HEADER)) is not None:
            found.append(await _service_principal(request, service_token))
        if (api_key := headers.get(API_KEY_HEADER)) is not None:
            found.append(await _key_principal(request, session, api_key))
        if (authorization := headers.get("Authorization")) is not None:
            scheme, _, bearer = authorization.partition(" ")
            if scheme.lower() != "bearer" or not bearer.strip():
                raise InvalidTokenError("send Authorization: Bearer <access token>")
            principal = await _bearer_principal(request, session, bearer.strip(), self)
            found.append(principal)
        if not found:
            raise NotAuthenticatedError("send a bearer token, an API key or the service token")
        return found[0]


get_principal = PrincipalResolver()
_get_principal_and_account = PrincipalResolver(loads_account=True)
_LOADED_ACCOUNT = "users.principal_account"


async def _service_principal(request: Request, token: str) -> Principal:
    await check_secret_failures(request, "service-token")
    if is_valid_service_token(token, request_settings(request).service_token):
        return SERVICE_PRINCIPAL
    await count_secret_failure(request, "service-token")
    raise InvalidTokenError("the service token is not valid")


async def _key_principal(request: Request, session: AsyncSession, key: str) -> Principal:
    await check_secret_failures(request, "api-key")
    try:
        return await api_keys.authenticate(session, key)
    except InvalidApiKeyError:
        await count_secret_failure(request, "api-key")
        raise


async def _bearer_principal(
    request: Request, session: AsyncSession, bearer: str, resolver: PrincipalResolver
) -> Principal:
    secret = request_settings(request).SECRET_KEY.get_secret_value()
    try:
        claims = decode_access_token(bearer, secret)
    except MalformedTokenError:
        raise InvalidTokenError from None
    subject = claims.subject
    valid = subject.isascii() and subject.isdigit() and len(subject) <= len(str(MAX_ID))
    if not (valid and 0 < int(subject) <= MAX_ID):
        raise InvalidTokenError  # signed, but no id an account can have
    user_id = int(subject)
    if resolver.loads_account:
        loaded = await roles.account_of(session, user_id)
        # The identity map holds rows weakly: keep this one for `CurrentUser`.
        session.info[_LOADED_ACCOUNT], standing = loaded or (None, None)
    else:
        standing = await roles.standing_of(session, user_id)
    if standing is None or not standing.is_active:
        raise InvalidTokenError
    if standing.token_generation != claims.generation:
        raise InvalidTokenError  # revoked since the token was issued
    return Principal(user_id=user_id, permissions=standing.permissions)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


class RequirePermission:
    """A dependency a router declares: the caller, if it holds `permission`, else 403.

    `Depends(RequirePermission("items:write"))` in a route, or a named `Annotated` alias."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if not principal.has(self.permission):
            raise PermissionDeniedError(f"requires the permission {self.permission}")
        return principal


async def _active_user(session: AsyncSession, user_id: int) -> User:
    user = await service.get(session, user_id)
    if user is None or not user.is_active:
        raise InvalidTokenError
    return user


PrincipalWithAccount = Annotated[Principal, Depends(_get_principal_and_account)]


async def get_current_user(principal: PrincipalWithAccount, session: SessionDep) -> User:
    """The caller's account, for routes that need the row (read in this request). The service
    caller has none."""
    if principal.user_id is None:
        raise ServiceCallerHasNoAccountError
    return await _active_user(session, principal.user_id)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_signed_in_user(principal: PrincipalWithAccount, user: CurrentUser) -> User:
    """The caller's account, signed in with a password (a token): what managing keys and
    sessions needs, so a leaked key cannot make itself new keys."""
    if principal.via != "token":
        raise SessionRequiredError
    return user


SignedInUser = Annotated[User, Depends(get_signed_in_user)]
AdminPrincipal = Annotated[Principal, Depends(RequirePermission(USERS_ADMIN))]


async def valid_user(user_id: RowId, session: SessionDep, _: AdminPrincipal) -> User:
    """The user named in the path, for holders of users:admin; 404 when it does not exist."""
    user = await service.get(session, user_id)
    if user is None:
        raise UserNotFoundError
    return user


ValidUser = Annotated[User, Depends(valid_user)]
