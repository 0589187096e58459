"""The users table. Private to this domain: other domains use `service` and `schemas`."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, TimestampMixin

EMAIL_MAX_LENGTH = 320


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
    is_superuser: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    # Moved on by every revocation (password change or reset, deactivation, role change, log
    # out everywhere): a token carrying an older generation is refused.
    token_generation: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r})"
