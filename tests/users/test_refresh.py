"""Refresh tokens: each works once, a replayed one revokes its whole session, logging out
ends one session or all of them, and expired ones are purged."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select

from app.core.db import utcnow
from app.users import sessions
from app.users.models import RefreshToken, User
from tests.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, create_user

API = "/api/v1"
ITEMS = f"{API}/items"


async def _login(
    client: AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> dict[str, str]:
    response = await client.post(
        f"{API}/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def _refresh(client: AsyncClient, token: str) -> tuple[int, dict[str, str]]:
    response = await client.post(f"{API}/auth/refresh", json={"refresh_token": token})
    return response.status_code, response.json()


async def test_a_refresh_hands_out_a_new_pair_and_uses_up_the_old_token(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    first = await _login(client, email)
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get(ITEMS, headers=_bearer(second))).status_code == 200
    third_status, _ = await _refresh(client, second["refresh_token"])
    assert third_status == 200


async def test_a_replayed_refresh_token_revokes_its_whole_session(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    stolen = (await _login(client, email))["refresh_token"]
    other_session = (await _login(client, email))["refresh_token"]
    status, rotated = await _refresh(client, stolen)
    assert status == 200
    replay = await client.post(f"{API}/auth/refresh", json={"refresh_token": stolen})
    assert_problem(replay, 401, "refresh_token_reused")
    # The revocation was kept although the request failed: the thief's newer token is dead.
    refused = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert_problem(refused, 401, "invalid_refresh_token")
    assert (await _refresh(client, other_session))[0] == 200  # another session lives on


async def test_a_password_change_ends_every_session(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    pair = await _login(client, email)
    change = {"current_password": DEFAULT_PASSWORD, "new_password": "a-fresh-password-1234"}
    done = await client.post(f"{API}/users/me/password", json=change, headers=_bearer(pair))
    assert done.status_code == 204
    refused = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert_problem(refused, 401, "invalid_refresh_token")


async def test_logout_ends_this_session_only(client: AsyncClient, application: FastAPI) -> None:
    _, email = await create_user(application)
    this, other = await _login(client, email), await _login(client, email)
    out = await client.post(f"{API}/auth/logout", json={"refresh_token": this["refresh_token"]})
    assert out.status_code == 204
    assert (await _refresh(client, this["refresh_token"]))[0] == 401
    assert (await _refresh(client, other["refresh_token"]))[0] == 200
    again = await client.post(f"{API}/auth/logout", json={"refresh_token": "never-issued"})
    assert again.status_code == 204  # tells nothing about which tokens exist


async def test_logout_everywhere_refuses_every_token_at_once(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    this, other = await _login(client, email), await _login(client, email)
    out = await client.post(f"{API}/auth/logout-everywhere", headers=_bearer(this))
    assert out.status_code == 204
    for pair in (this, other):
        assert_problem(await client.get(ITEMS, headers=_bearer(pair)), 401, "invalid_token")
        assert (await _refresh(client, pair["refresh_token"]))[0] == 401
    assert (await client.get(ITEMS, headers=_bearer(await _login(client, email)))).is_success


async def test_a_deactivated_account_cannot_refresh(
    client: AsyncClient, application: FastAPI
) -> None:
    user_id, email = await create_user(application)
    pair = await _login(client, email)
    async with application.state.session_factory() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.is_active = False
    assert (await _refresh(client, pair["refresh_token"]))[0] == 401


async def test_expired_refresh_tokens_are_refused_and_purged(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    expired, live = await _login(client, email), await _login(client, email)
    factory = application.state.session_factory
    async with factory() as session, session.begin():
        token = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == sessions.digest(expired["refresh_token"])
            )
        )
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
    assert_problem(
        await client.post(f"{API}/auth/refresh", json={"refresh_token": expired["refresh_token"]}),
        401,
        "invalid_refresh_token",
    )
    async with factory() as session, session.begin():
        assert await sessions.purge_expired(session) == 1
        left = await session.scalar(select(func.count()).select_from(RefreshToken))
    assert left == 1
    assert (await _refresh(client, live["refresh_token"]))[0] == 200
