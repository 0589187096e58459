"""The identity tables. Private to this domain: other domains use `service` and `schemas`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, TimestampMixin, UTCDateTime

EMAIL_MAX_LENGTH = 320
ROLE_NAME_MAX_LENGTH = 64
KEY_NAME_MAX_LENGTH = 100
DIGEST_LENGTH = 64  # a SHA-256 hex digest


class User(TimestampMixin, Base):
    __tablename__ = "users"
    # SQLite would hand a deleted account's id to the next one: never reuse an id.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased by the service, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true(), nullable=False
    )
    # Moved on by every revocation (password change or reset, deactivation, log out
    # everywhere): a token carrying an older generation is refused.
    token_generation: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r})"


class Role(TimestampMixin, Base):
    """A named bundle of permissions (space-separated `domain:action` names, or `*`)."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(ROLE_NAME_MAX_LENGTH), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    permissions: Mapped[str] = mapped_column(Text, default="", nullable=False)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (Index("ix_user_roles_role", "role_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class RefreshToken(Base):
    """One refresh token, stored as its digest. A login starts a family; each use marks the
    token used and adds the next one to the family; a used one presented again revokes it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family", "family"),
        Index("ix_refresh_tokens_user", "user_id"),
        Index("ix_refresh_tokens_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    family: Mapped[str] = mapped_column(String(DIGEST_LENGTH), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiKey(TimestampMixin, Base):
    """A key for machines, acting for its owner within its scopes; stored as its digest."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(KEY_NAME_MAX_LENGTH), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True, nullable=False)
    scopes: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
