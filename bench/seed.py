"""Put the bench user and its items in the database: a few through the service's own API,
then as many as the deep-page scenarios need straight in PostgreSQL (one `generate_series`
INSERT: a million rows in seconds, where the API would take minutes)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

import asyncpg
from sqlalchemy.engine import make_url

from app.core.pagination import encode_cursor
from bench.scenarios import API, BENCH_EMAIL, BENCH_PASSWORD, SEED_ITEMS, SORTS, Fixture

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _post(port: int, path: str, body: bytes, content_type: str, token: str = "") -> Any:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def seed(port: int, database_url: str = "", *, items: int = 0) -> Fixture:
    """Sign up, log in, create SEED_ITEMS items through the API, then `items` more in the
    database; the token, the first item's id, and a cursor `DEEP_SHARE` of `items` deep
    for each sort and order."""
    account = {"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "full_name": "Bench"}
    owner_id = _post(port, f"{API}/users", json.dumps(account).encode(), JSON)["id"]
    form = urlencode({"username": BENCH_EMAIL, "password": BENCH_PASSWORD}).encode()
    access = _post(port, f"{API}/auth/token", form, FORM)["access_token"]
    ids = []
    for number in range(SEED_ITEMS):
        item = json.dumps({"title": f"seed item {number}", "description": "x" * 200}).encode()
        ids.append(_post(port, f"{API}/items", item, JSON, access)["id"])
    if not items:
        return Fixture(token=access, item_id=ids[0], owner_id=owner_id)
    deep, bulk = asyncio.run(_bulk_items(database_url, owner_id, items))
    return Fixture(
        token=access, item_id=ids[0], owner_id=owner_id, deep_cursors=deep, bulk_ids=bulk
    )


DEEP_SHARE = 0.9  # the deep page starts after 90% of the bulk rows (900,000 of 1,000,000)
BULK_INSERT = """
INSERT INTO items (title, description, owner_id, version, created_at, updated_at)
SELECT 'bulk ' || md5(n::text), '', $1, 1, t, t
FROM generate_series(1, $2) AS n, LATERAL (SELECT now() - n * interval '1 second' AS t) AS at
"""


async def _bulk_items(
    database_url: str, owner_id: int, items: int
) -> tuple[dict[str, str], tuple[int, int]]:
    """`items` rows for the owner (distinct times, titles in another order than times),
    analyzed; per "sort order" the cursor of the row `DEEP_SHARE` of them deep, and the
    lowest and highest id of the rows."""
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        low = await connection.fetchval("SELECT coalesce(max(id), 0) + 1 FROM items")
        await connection.execute(BULK_INSERT, owner_id, items)
        high = await connection.fetchval("SELECT max(id) FROM items")
        await connection.execute("ANALYZE items")
        cursors = {}
        for sort, order in SORTS:
            row = await connection.fetchrow(
                f"SELECT {sort} AS value, id FROM items WHERE owner_id = $1 "  # noqa: S608 (ours)
                f"ORDER BY {sort} {order}, id {order} OFFSET $2 LIMIT 1",
                owner_id,
                int(items * DEEP_SHARE),
            )
            cursors[f"{sort} {order}"] = encode_cursor(sort, order, row["value"], row["id"])
        return cursors, (low, high)
    finally:
        await connection.close()
