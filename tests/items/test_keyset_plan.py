"""A deep page costs what the first one does: PostgreSQL's plan for a page after any cursor,
for every sort and direction the list offers, scans the index from the cursor on instead of
reading and filtering away the rows before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from app.core.pagination import Position
from app.core.principal import Principal
from app.items import service
from app.items.models import Item
from app.items.permissions import ITEMS
from app.items.schemas import ItemQuery
from tests.factories import create_user

ROWS = 3000
DEEP = 2500
START = datetime(2026, 1, 1, tzinfo=UTC)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _seed(application: FastAPI, owner_id: int, other_id: int) -> None:
    rows = [
        {
            "title": f"title {(n * 7919) % ROWS:05d}",
            "description": "",
            "owner_id": owner_id if n % 4 else other_id,
            "version": 1,
            "created_at": START + timedelta(seconds=n // 3),  # ties: the id decides
            "updated_at": START,
        }
        for n in range(ROWS)
    ]
    async with application.state.engine.begin() as connection:
        await connection.execute(insert(Item), rows)
        await connection.execute(text("ANALYZE items"))


@pytest.mark.parametrize("sort", ["created_at", "title"])
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("superuser", [False, True], ids=["owner", "superuser"])
async def test_a_deep_page_scans_the_index_from_the_cursor(
    application: FastAPI, is_postgres: bool, sort: str, order: str, superuser: bool
) -> None:
    if not is_postgres:
        pytest.skip("the plan is PostgreSQL's")
    owner_id, _ = await create_user(application)
    other_id, _ = await create_user(application)
    await _seed(application, owner_id, other_id)
    held = frozenset({ITEMS.read_all} if superuser else ())
    principal = Principal(user_id=owner_id, permissions=held)
    query = ItemQuery(sort=sort, order=order)  # type: ignore[arg-type]
    async with application.state.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))  # small table: no shortcut
        ordered, values = service.list_statement(principal, query, None)
        rows = (await connection.execute(ordered, {**values, "limit": DEEP})).all()
        last = rows[-1]
        # The statement the service runs for the page after row DEEP, its values inlined
        page, values = service.list_statement(
            principal, query, Position(getattr(last, sort), last.id)
        )
        compiled = page.params(values).compile(
            connection.sync_connection, compile_kwargs={"literal_binds": True}
        )
        explained = await connection.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"))
        value = explained.scalar_one()
        plan = json.loads(value) if isinstance(value, str) else value
    nodes = _nodes(plan[0]["Plan"])
    scans = [node for node in nodes if "Scan" in node["Node Type"]]
    assert scans, plan
    assert all(node["Node Type"].startswith("Index") for node in scans), plan
    removed = sum(node.get("Rows Removed by Filter", 0) for node in nodes)
    assert removed <= query.limit, f"{removed} rows read and thrown away: {plan}"
    read = sum(node.get("Actual Rows", 0) for node in scans)
    assert read <= query.limit + 1, plan
