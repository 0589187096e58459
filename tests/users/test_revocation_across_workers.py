"""Revocation under a real gunicorn with two workers: a change made through one worker
refuses the old token on the other at once (no per-worker memory of accounts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.core.test_gunicorn import _start
from tests.servers import Server

API = "/api/v1"
SERVICE_TOKEN = "two-workers-service-token-0123456789"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    yield from _start(database_url, tmp_path, X_TOKEN=SERVICE_TOKEN, ACCESS_LOG="false")


def _pinned_pair(server: Server) -> tuple[httpx.Client, httpx.Client]:
    """Two keep-alive clients, each holding one connection, served by different workers."""
    by_worker: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _ in range(50):
        client = httpx.Client(
            base_url=server.url, trust_env=False, limits=httpx.Limits(max_connections=1)
        )
        worker = client.get("/pid").json()["pid"]
        if worker in by_worker:
            spare.append(client)
        else:
            by_worker[worker] = client
        if len(by_worker) == 2:
            break
    for client in spare:
        client.close()
    assert len(by_worker) == 2, "the two workers never both accepted a connection"
    first, second = by_worker.values()
    return first, second


def _token(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    form = {"username": email, "password": password}
    response = client.post(f"{API}/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _worker(client: httpx.Client) -> int:
    pid: int = client.get("/pid").json()["pid"]
    return pid


@pytest.mark.slow
def test_a_change_through_one_worker_refuses_the_old_token_on_the_other(server: Server) -> None:
    one, other = _pinned_pair(server)
    try:
        assert _worker(one) != _worker(other)
        service = {"X-Token": SERVICE_TOKEN}

        def sign_up(email: str) -> int:
            created = one.post(f"{API}/users", json={"email": email, "password": PASSWORD})
            assert created.status_code == 201, created.text
            user_id: int = created.json()["id"]
            return user_id

        # A password change through one worker: the other refuses the old token at once.
        sign_up("changes@example.com")
        old = _token(one, "changes@example.com")
        assert other.get(f"{API}/items", headers=old).status_code == 200  # known there
        change = {"current_password": PASSWORD, "new_password": "a-brand-new-password"}
        assert one.post(f"{API}/users/me/password", json=change, headers=old).status_code == 204
        assert other.get(f"{API}/items", headers=old).status_code == 401
        fresh = _token(other, "changes@example.com", "a-brand-new-password")
        assert other.get(f"{API}/items", headers=fresh).status_code == 200

        # An administrator's deactivation, password reset and deletion, likewise.
        changes = ({"is_active": False}, {"password": "reset-by-the-admin"}, None)
        for number, change_by_admin in enumerate(changes):
            email = f"managed-{number}@example.com"
            user_id = sign_up(email)
            token = _token(one, email)
            assert other.get(f"{API}/items", headers=token).status_code == 200
            if change_by_admin is None:
                done = one.delete(f"{API}/users/{user_id}", headers=service)
            else:
                done = one.patch(f"{API}/users/{user_id}", json=change_by_admin, headers=service)
            assert done.status_code in (200, 204), done.text
            assert other.get(f"{API}/items", headers=token).status_code == 401, change_by_admin

        # Log out everywhere through one worker: the other refuses the token at once.
        sign_up("leaves@example.com")
        token = _token(one, "leaves@example.com")
        assert other.get(f"{API}/items", headers=token).status_code == 200
        assert one.post(f"{API}/auth/logout-everywhere", headers=token).status_code == 204
        assert other.get(f"{API}/items", headers=token).status_code == 401

        # A role taken away through one worker: the other refuses what it allowed at once.
        user_id = sign_up("demoted@example.com")
        token = _token(one, "demoted@example.com")
        role = {"name": "account-admins", "permissions": ["users:admin"]}
        assert one.post(f"{API}/roles", json=role, headers=service).status_code == 201
        roles_url = f"{API}/users/{user_id}/roles"
        assert one.put(roles_url, json={"roles": [role["name"]]}, headers=service).is_success
        assert other.get(f"{API}/users", headers=token).status_code == 200
        assert one.put(roles_url, json={"roles": []}, headers=service).is_success
        assert other.get(f"{API}/users", headers=token).status_code == 403
    finally:
        one.close()
        other.close()
