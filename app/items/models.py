"""The items table. `version` drives optimistic concurrency (ETag / If-Match)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, TimestampMixin

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000


class Item(TimestampMixin, Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # A foreign key by table name only: items never imports the users' models.
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    # SQLAlchemy adds `AND version = <loaded>` to every UPDATE/DELETE and bumps it, so a
    # concurrent change makes the later write fail instead of silently overwriting.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    __table_args__ = (
        # Keyset pagination: one index per sort order, owner first (a user sees their own).
        Index("ix_items_owner_created", "owner_id", "created_at", "id"),
        Index("ix_items_owner_title", "owner_id", "title", "id"),
        Index("ix_items_created", "created_at", "id"),
        Index("ix_items_title", "title", "id"),
    )

    def __repr__(self) -> str:
        return f"Item(id={self.id!r}, version={self.version!r})"
