"""What the users API accepts and returns. Inputs forbid unknown fields (no mass assignment);
outputs never carry the password hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.core.schemas import NO_NUL, StrictInput

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
    """What a superuser may change about anyone."""

    email: Email | None = None
    full_name: FullName | None = None
    password: Password | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None


class PasswordChange(StrictInput):
    current_password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    is_active: bool
    is_superuser: bool
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
    expires_in: int = Field(description="Seconds until the token expires")
