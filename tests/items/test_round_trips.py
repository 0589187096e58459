"""What each item request asks of the database: the caller's account (with its roles and
token generation, read on every request so a revocation applies at once), then one statement,
in one transaction; a change that adds a round trip (a second query, a refresh after insert)
fails here first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from tests.factories import account

ITEMS = "/api/v1/items"


@contextmanager
def statements(application: FastAPI) -> Iterator[list[str]]:
    """The first word of every statement the app's engine sends, COMMIT and ROLLBACK included."""
    engine = application.state.engine.sync_engine
    sent: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement.split(maxsplit=1)[0].upper())

    def on_commit(_conn: Any) -> None:
        sent.append("COMMIT")

    def on_rollback(_conn: Any) -> None:
        sent.append("ROLLBACK")

    hooks = {"before_cursor_execute": on_execute, "commit": on_commit, "rollback": on_rollback}
    for name, hook in hooks.items():
        event.listen(engine, name, hook)
    try:
        yield sent
    finally:
        for name, hook in hooks.items():
            event.remove(engine, name, hook)


ACCOUNT = "SELECT"  # the account and its roles, one query

# The request, and what it must send after BEGIN
REQUESTS: dict[str, tuple[str, str, dict[str, str] | None, list[str]]] = {
    "read": ("GET", "{item}", None, [ACCOUNT, "SELECT", "COMMIT"]),
    "list": ("GET", "", None, [ACCOUNT, "SELECT", "COMMIT"]),
    "create": ("POST", "", {"title": "new"}, [ACCOUNT, "INSERT", "COMMIT"]),
}


@pytest.mark.parametrize("name", REQUESTS)
async def test_an_item_request_is_two_statements(
    client: AsyncClient, application: FastAPI, name: str
) -> None:
    method, path, body, expected = REQUESTS[name]
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    url = ITEMS + path.format(item=f"/{item['id']}")
    warm = await client.request(method, url, json=body, headers=user.headers)
    assert warm.status_code < 300, warm.text
    with statements(application) as sent:
        response = await client.request(method, url, json=body, headers=user.headers)
    assert response.status_code < 300, response.text
    assert [s for s in sent if not s.startswith("BEGIN")] == expected
