"""What the users API accepts and returns. Inputs forbid unknown fields (no mass assignment);
outputs never carry the password hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.schemas import NO_NUL, StrictInput, UtcDatetime
from app.users.models import KEY_NAME_MAX_LENGTH, ROLE_NAME_MAX_LENGTH

PASSWORD_MAX_LENGTH = 128  # bounds the hashing cost of a single request


def _lower(value: str) -> str:
    return value.lower()


Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(_lower)]
# The schema's minLength is the deployed PASSWORD_MIN_LENGTH (app.main fills it in from the
# marker), so a client generated from /openapi.json asks for what the server enforces.
Password = Annotated[
    str,
    Field(
        min_length=8,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"x-min-length-setting": "PASSWORD_MIN_LENGTH"},
    ),
]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]


class UserCreate(StrictInput):
    email: Email
    password: Password
    full_name: FullName = ""


class UserUpdateMe(StrictInput):
    """What users may change about themselves: never their roles or activity."""

    email: Email | None = None
    full_name: FullName | None = None


class UserUpdate(StrictInput):
    """What a holder of users:admin may change about anyone (roles: PUT /users/{id}/roles)."""

    email: Email | None = None
    full_name: FullName | None = None
    password: Password | None = None
    is_active: bool | None = None


class PasswordChange(StrictInput):
    current_password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(
        description="Send to POST /auth/refresh for the next pair; each works once"
    )
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


# Opaque credentials are 43 characters today; the bound only keeps giant inputs out.
Secret = Annotated[str, Field(min_length=1, max_length=200)]


class RefreshRequest(StrictInput):
    refresh_token: Secret


PermissionName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=63, pattern=r"^(\*|[a-z][a-z0-9_]*:[a-z][a-z0-9_]*)$"
    ),
]
RoleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ROLE_NAME_MAX_LENGTH, pattern=r"^[a-z][a-z0-9_-]*$"),
]
Description = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]


class PermissionRead(BaseModel):
    name: str
    description: str
    held_by_everyone: bool = Field(description="Every signed-in user holds it without a role")


class RoleCreate(StrictInput):
    name: RoleName
    description: Description = ""
    permissions: list[PermissionName] = Field(default_factory=list, max_length=200)


class RoleUpdate(StrictInput):
    description: Description | None = None
    permissions: list[PermissionName] | None = Field(default=None, max_length=200)


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    permissions: list[str]

    @field_validator("permissions", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value


class UserRoles(StrictInput):
    roles: list[RoleName] = Field(max_length=100)


class ApiKeyCreate(StrictInput):
    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=KEY_NAME_MAX_LENGTH, pattern=NO_NUL
        ),
    ]
    scopes: list[PermissionName] = Field(min_length=1, max_length=200)
    expires_at: UtcDatetime | None = Field(default=None, description="None: never expires")


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute")
    created_at: datetime

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Send as the X-API-Key header. Shown this once only")
