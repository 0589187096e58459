"""Login: one answer for every wrong credential, hashes renewed, inactive users kept out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from app.core import security
from app.users.models import User
from tests.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD, create_user

TOKEN_URL = "/api/v1/auth/token"


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


async def _stored_hash(application: FastAPI, user_id: int) -> str:
    async with application.state.session_factory() as session:
        stored: str | None = await session.scalar(
            select(User.hashed_password).where(User.id == user_id)
        )
    assert stored is not None
    return stored


async def test_login_returns_a_bearer_token(client: AsyncClient, application: FastAPI) -> None:
    _, email = await create_user(application)
    response = await client.post(TOKEN_URL, data={"username": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 14 * 24 * 3600
    assert len(body["refresh_token"]) >= 43
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == email


async def test_email_is_case_insensitive_at_login(
    client: AsyncClient, application: FastAPI
) -> None:
    await create_user(application, email="mixed@example.com")
    response = await client.post(
        TOKEN_URL, data={"username": "MIXED@Example.COM", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200


async def test_wrong_password_and_unknown_email_look_the_same(
    client: AsyncClient, application: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, email = await create_user(application)
    verified: list[str] = []
    real_hash = security._password_hash()

    class CountingHash:
        def hash(self, password: str) -> str:
            return real_hash.hash(password)

        def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
            verified.append(hashed)
            return real_hash.verify_and_update(password, hashed)

    monkeypatch.setattr(security, "_password_hash", CountingHash)
    wrong_password = await client.post(TOKEN_URL, data={"username": email, "password": "nope-nope"})
    unknown_email = await client.post(
        TOKEN_URL, data={"username": "ghost@example.com", "password": "nope-nope"}
    )
    first = assert_problem(wrong_password, 401, "invalid_credentials")
    second = assert_problem(unknown_email, 401, "invalid_credentials")
    assert _comparable(first) == _comparable(second)
    assert wrong_password.headers["www-authenticate"] == "Bearer"
    # Both paths ran one real argon2 verification, so they take similar time.
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)


async def test_inactive_user_cannot_log_in(client: AsyncClient, application: FastAPI) -> None:
    _, email = await create_user(application, is_active=False)
    response = await client.post(TOKEN_URL, data={"username": email, "password": DEFAULT_PASSWORD})
    assert_problem(response, 401, "invalid_credentials")


async def test_missing_form_fields_are_422(client: AsyncClient) -> None:
    response = await client.post(TOKEN_URL, data={"username": "x@example.com"})
    assert_problem(response, 422)


async def test_outdated_hash_is_renewed_at_login(client: AsyncClient, application: FastAPI) -> None:
    user_id, email = await create_user(application)
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))
    async with application.state.session_factory() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.hashed_password = weak.hash(DEFAULT_PASSWORD)
    response = await client.post(TOKEN_URL, data={"username": email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    stored = await _stored_hash(application, user_id)
    assert f"m={security.ARGON2_MEMORY_KIB},t={security.ARGON2_TIME_COST}" in stored


@pytest.mark.usefixtures("production_password_hashing")
async def test_passwords_are_stored_with_the_deployed_argon2id(
    client: AsyncClient, application: FastAPI
) -> None:
    """The one test that pays the deployed cost (the others hash cheaply, tests/conftest.py):
    what an account stores, and that login verifies it without renewing it."""
    user_id, email = await create_user(application)
    stored = await _stored_hash(application, user_id)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    right = await client.post(TOKEN_URL, data={"username": email, "password": DEFAULT_PASSWORD})
    assert right.status_code == 200
    wrong = await client.post(TOKEN_URL, data={"username": email, "password": "nope-nope"})
    assert_problem(wrong, 401, "invalid_credentials")
    assert await _stored_hash(application, user_id) == stored  # deployed parameters: kept


async def test_password_hashing_is_bounded_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of logins runs at most MAX_CONCURRENT_HASHES argon2 computations at once, so
    a worker's memory stays bounded (each holds ARGON2_MEMORY_KIB)."""
    import asyncio
    import threading
    import time

    real_hash = security._password_hash()
    lock = threading.Lock()
    running = 0
    peak = 0

    class PeakHash:
        def hash(self, password: str) -> str:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                time.sleep(0.02)  # what a deployed hash costs: the tests hash cheaply
                return real_hash.hash(password)
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(security, "_password_hash", PeakHash)
    hashes = await asyncio.gather(*(security.hash_password(f"password-{n}") for n in range(8)))
    assert len(set(hashes)) == 8
    assert 1 <= peak <= security.MAX_CONCURRENT_HASHES  # without the bound it reaches 8
