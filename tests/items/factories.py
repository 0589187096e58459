"""Items made straight through the session, for tests that need many rows fast."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI

from app.items.models import Item


async def create_items(
    application: FastAPI,
    owner_id: int,
    count: int,
    *,
    title: str = "item {i}",
    start: datetime | None = None,
) -> list[int]:
    """Rows straight through the session (fast), one second apart unless `start` is None."""
    made = []
    async with application.state.session_factory() as session, session.begin():
        for i in range(count):
            item = Item(title=title.format(i=i), description="", owner_id=owner_id)
            if start is not None:
                item.created_at = start + timedelta(seconds=i)
            session.add(item)
            made.append(item)
        await session.flush()
        return [item.id for item in made]
