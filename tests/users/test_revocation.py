"""Revocation takes effect at once: a token issued before a password change, a reset, a
deactivation or a deletion is refused at the very next request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from tests.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, account, create_user, login, service_headers

API = "/api/v1"
ME = f"{API}/users/me"
ITEMS = f"{API}/items"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_password_change_refuses_older_tokens(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    second = _bearer(await login(client, user.email))
    change = {"current_password": DEFAULT_PASSWORD, "new_password": "an-entirely-new-password"}
    assert (
        await client.post(f"{ME}/password", json=change, headers=user.headers)
    ).status_code == 204
    for old in (user.headers, second):
        assert_problem(await client.get(ITEMS, headers=old), 401, "invalid_token")
    fresh = _bearer(await login(client, user.email, "an-entirely-new-password"))
    assert (await client.get(ITEMS, headers=fresh)).status_code == 200


async def test_an_administrators_reset_refuses_older_tokens(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    reset = await client.patch(
        f"{API}/users/{user.id}",
        json={"password": "reset-by-the-administrator"},
        headers=service_headers(application),
    )
    assert reset.status_code == 200
    assert_problem(await client.get(ITEMS, headers=user.headers), 401, "invalid_token")


async def test_a_reactivated_account_does_not_revive_its_old_tokens(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    url, headers = f"{API}/users/{user.id}", service_headers(application)
    assert (await client.patch(url, json={"is_active": False}, headers=headers)).status_code == 200
    assert_problem(await client.get(ITEMS, headers=user.headers), 401, "invalid_token")
    assert (await client.patch(url, json={"is_active": True}, headers=headers)).status_code == 200
    assert_problem(await client.get(ITEMS, headers=user.headers), 401, "invalid_token")
    assert (await client.get(ITEMS, headers=_bearer(await login(client, user.email)))).is_success


async def test_unrelated_changes_keep_the_sessions(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    renamed = await client.patch(ME, json={"full_name": "New Name"}, headers=user.headers)
    assert renamed.status_code == 200
    assert (await client.get(ITEMS, headers=user.headers)).status_code == 200


async def test_a_deleted_accounts_id_is_never_handed_out_again(
    client: AsyncClient, application: FastAPI
) -> None:
    """Else a token naming the deleted account would reach the next one (SQLite reuses the
    highest id without AUTOINCREMENT)."""
    user = await account(application, client)
    gone = await client.delete(f"{API}/users/{user.id}", headers=service_headers(application))
    assert gone.status_code == 204
    newcomer_id, _ = await create_user(application)
    assert newcomer_id != user.id
    assert_problem(await client.get(ITEMS, headers=user.headers), 401, "invalid_token")


@contextmanager
def recorded_sql(application: FastAPI) -> Iterator[list[str]]:
    """Every statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])  # (conn, cursor, statement, parameters, context, many)

    engine = application.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_me_reads_the_account_once(client: AsyncClient, application: FastAPI) -> None:
    """The principal's check and the account the route needs are one query, not two."""
    user = await account(application, client)
    with recorded_sql(application) as statements:
        assert (await client.get(ME, headers=user.headers)).json()["id"] == user.id
    assert len([s for s in statements if "FROM users" in s]) == 1
