"""The per-worker principal cache: a fresh entry spares the account query, a change made
through this process applies at once, and one made behind its back within the TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError
from sqlalchemy import event, text

from app.core.config import Settings
from app.core.security import create_access_token
from app.main import create_app
from app.users import service as users
from app.users.dependencies import CurrentPrincipal
from app.users.principal_cache import PrincipalCache
from app.users.schemas import UserUpdate
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory
from tests.factories import DEFAULT_PASSWORD, account, service_headers
from tests.items.factories import create_items

PROBE = "/probe/principal"
ME = "/api/v1/users/me"
USERS = "/api/v1/users"
TTL = 5.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    """A route that needs nothing but the principal, so any SQL it runs is the account's."""
    return {
        "user_id": principal.user_id,
        "is_superuser": principal.is_superuser,
        "is_service": principal.is_service,
    }


def add_probe(application: FastAPI) -> None:
    application.add_api_route(PROBE, whoami, methods=["GET"])


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


def reads_users(statements: list[str]) -> list[str]:
    return [s for s in statements if "users" in s.lower()]


async def set_active_behind_the_cache(application: FastAPI, user_id: int, active: bool) -> None:
    """Plain SQL on its own connection: what another worker or an operator would do."""
    async with application.state.engine.begin() as connection:
        await connection.execute(
            text("UPDATE users SET is_active = :active WHERE id = :id"),
            {"active": active, "id": user_id},
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(application: FastAPI, clock: FakeClock) -> PrincipalCache:
    """The app's cache, on a clock the test controls, and the probe route."""
    made = PrincipalCache(TTL, clock=clock)
    application.state.principal_cache = made
    add_probe(application)
    return made


# --- hits, misses and what is cached ----------------------------------------------------


async def test_cache_hit_runs_no_sql(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    with recorded_sql(application) as first:
        miss = await client.get(PROBE, headers=user.headers)
    with recorded_sql(application) as second:
        hit = await client.get(PROBE, headers=user.headers)
    assert miss.status_code == hit.status_code == 200
    assert (
        miss.json()
        == hit.json()
        == {"user_id": user.id, "is_superuser": False, "is_service": False}
    )
    assert len(reads_users(first)) == 1
    assert second == []
    assert cache.get(user.id) is False


async def test_item_read_on_a_hit_reads_only_the_item(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    [item_id] = await create_items(application, user.id, 1)
    with recorded_sql(application) as first:
        assert (await client.get(f"/api/v1/items/{item_id}", headers=user.headers)).is_success
    with recorded_sql(application) as second:
        assert (await client.get(f"/api/v1/items/{item_id}", headers=user.headers)).is_success
    assert len(reads_users(first)) == 1
    assert reads_users(second) == []
    assert len(second) == len(first) - 1


async def test_superuser_rights_are_cached_too(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    admin = await account(application, client, is_superuser=True)
    assert (await client.get(USERS, headers=admin.headers)).status_code == 200
    assert cache.get(admin.id) is True
    with recorded_sql(application) as statements:
        assert (await client.get(PROBE, headers=admin.headers)).json()["is_superuser"] is True
    assert statements == []


async def test_inactive_account_is_never_cached(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    await set_active_behind_the_cache(application, user.id, False)
    for _ in range(2):
        with recorded_sql(application) as statements:
            assert_problem(await client.get(PROBE, headers=user.headers), 401, "invalid_token")
        assert len(reads_users(statements)) == 1
    assert len(cache) == 0


async def test_token_without_a_numeric_subject_is_refused(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    settings: Settings = application.state.settings
    token = create_access_token("admin", settings.SECRET_KEY.get_secret_value(), 5)
    response = await client.get(PROBE, headers={"Authorization": f"Bearer {token.token}"})
    assert_problem(response, 401, "invalid_token")
    assert len(cache) == 0


async def test_service_caller_is_not_cached(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    response = await client.get(PROBE, headers=service_headers(application))
    assert response.json() == {"user_id": None, "is_superuser": True, "is_service": True}
    assert len(cache) == 0


# --- changes through this process apply at once -----------------------------------------


async def test_deactivation_by_a_superuser_refuses_the_token_at_once(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache, clock: FakeClock
) -> None:
    admin = await account(application, client, is_superuser=True)
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    assert cache.get(user.id) is False
    patched = await client.patch(
        f"{USERS}/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert patched.json()["is_active"] is False
    assert_problem(await client.get(PROBE, headers=user.headers), 401, "invalid_token")
    assert_problem(await client.get(ME, headers=user.headers), 401, "invalid_token")
    assert clock.now == 1_000.0  # no time passed: the eviction did it, not the TTL


async def test_role_changes_apply_at_once(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    admin = await account(application, client, is_superuser=True)
    user = await account(application, client)
    assert_problem(await client.get(USERS, headers=user.headers), 403, "superuser_required")
    promoted = await client.patch(
        f"{USERS}/{user.id}", json={"is_superuser": True}, headers=admin.headers
    )
    assert promoted.status_code == 200
    assert (await client.get(USERS, headers=user.headers)).status_code == 200
    demoted = await client.patch(
        f"{USERS}/{user.id}", json={"is_superuser": False}, headers=service_headers(application)
    )
    assert demoted.status_code == 200
    assert_problem(await client.get(USERS, headers=user.headers), 403, "superuser_required")


async def test_deleted_account_is_refused_at_once(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    deleted = await client.delete(f"{USERS}/{user.id}", headers=service_headers(application))
    assert deleted.status_code == 204
    assert_problem(await client.get(PROBE, headers=user.headers), 401, "invalid_token")


async def test_own_changes_forget_the_entry(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    assert cache.get(user.id) is not None
    renamed = await client.patch(ME, json={"full_name": "Renamed"}, headers=user.headers)
    assert renamed.status_code == 200
    assert cache.get(user.id) is None
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    changed = await client.post(
        f"{ME}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a-brand-new-password"},
        headers=user.headers,
    )
    assert changed.status_code == 204
    assert cache.get(user.id) is None


async def test_a_lookup_that_raced_a_change_is_forgotten_at_commit(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    """Another request may read the old row between the change's flush and its commit; the
    eviction after the commit drops what it stored."""
    user = await account(application, client)
    settings: Settings = application.state.settings
    async with application.state.session_factory() as session, session.begin():
        row = await users.get(session, user.id)
        assert row is not None
        await users.update(
            session,
            row,
            UserUpdate(is_active=False),
            min_password_length=settings.PASSWORD_MIN_LENGTH,
        )
        since = cache.generation()
        cache.put(user.id, False, since=since)  # the racing request, with the old state
        assert cache.get(user.id) is False
    assert cache.get(user.id) is None
    assert_problem(await client.get(PROBE, headers=user.headers), 401, "invalid_token")


async def test_a_rolled_back_change_keeps_the_account_usable(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    settings: Settings = application.state.settings
    async with application.state.session_factory() as session:
        row = await users.get(session, user.id)
        assert row is not None
        await users.update(
            session,
            row,
            UserUpdate(is_active=False),
            min_password_length=settings.PASSWORD_MIN_LENGTH,
        )
        await session.rollback()
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    assert cache.get(user.id) is False


# --- changes behind the cache's back: bounded by the TTL --------------------------------


async def test_deactivation_behind_the_cache_applies_after_the_ttl(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache, clock: FakeClock
) -> None:
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    await set_active_behind_the_cache(application, user.id, False)
    clock.advance(TTL - 0.01)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200  # the trade-off
    clock.advance(0.01)
    assert_problem(await client.get(PROBE, headers=user.headers), 401, "invalid_token")
    assert len(cache) == 0


@pytest.mark.parametrize("warm", [False, True])
async def test_me_reads_the_account_once(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache, warm: bool
) -> None:
    """On a miss the principal's lookup and the fresh account are one query, not two."""
    user = await account(application, client)
    if warm:
        assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    with recorded_sql(application) as statements:
        assert (await client.get(ME, headers=user.headers)).json()["id"] == user.id
    assert len(reads_users(statements)) == 1


async def test_current_user_is_always_read_fresh(
    client: AsyncClient, application: FastAPI, cache: PrincipalCache
) -> None:
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    async with application.state.engine.begin() as connection:
        await connection.execute(
            text("UPDATE users SET full_name = 'Changed Elsewhere' WHERE id = :id"),
            {"id": user.id},
        )
    assert (await client.get(ME, headers=user.headers)).json()["full_name"] == "Changed Elsewhere"
    await set_active_behind_the_cache(application, user.id, False)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200  # cached
    assert_problem(await client.get(ME, headers=user.headers), 401, "invalid_token")
    assert_problem(
        await client.patch(ME, json={"full_name": "x"}, headers=user.headers), 401, "invalid_token"
    )


# --- the setting -------------------------------------------------------------------------


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    built = create_app(settings, configure_logging=False)
    add_probe(built)
    async with LifespanManager(built):
        transport = ASGITransport(app=built, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield built, http


async def test_zero_seconds_reads_the_account_every_time(
    application: FastAPI,  # empties the tables afterwards
    make_settings: SettingsFactory,
) -> None:
    async with running(make_settings(AUTH_CACHE_SECONDS=0)) as (uncached, http):
        user = await account(uncached, http)
        for _ in range(3):
            with recorded_sql(uncached) as statements:
                assert (await http.get(PROBE, headers=user.headers)).status_code == 200
            assert len(reads_users(statements)) == 1
        await set_active_behind_the_cache(uncached, user.id, False)
        assert_problem(await http.get(PROBE, headers=user.headers), 401, "invalid_token")
        assert len(uncached.state.principal_cache) == 0


async def test_default_ttl_is_taken_from_the_settings(
    application: FastAPI,  # empties the tables afterwards
    make_settings: SettingsFactory,
) -> None:
    assert make_settings().AUTH_CACHE_SECONDS == 5
    async with running(make_settings(AUTH_CACHE_SECONDS=0.25)) as (built, http):
        user = await account(built, http)
        assert (await http.get(PROBE, headers=user.headers)).status_code == 200
        made: PrincipalCache = built.state.principal_cache
        assert made.ttl_seconds == 0.25
        assert made.get(user.id) is False


async def test_each_app_has_its_own_cache(
    application: FastAPI, client: AsyncClient, cache: PrincipalCache, make_settings: SettingsFactory
) -> None:
    user = await account(application, client)
    assert (await client.get(PROBE, headers=user.headers)).status_code == 200
    async with running(make_settings()) as (other, http):
        with recorded_sql(other) as statements:
            assert (await http.get(PROBE, headers=user.headers)).status_code == 200
        assert len(reads_users(statements)) == 1
        assert other.state.principal_cache is not cache


@pytest.mark.parametrize("seconds", [-1, 300.5])
def test_ttl_out_of_range_is_refused(make_settings: SettingsFactory, seconds: float) -> None:
    with pytest.raises(ValidationError, match="AUTH_CACHE_SECONDS"):
        make_settings(AUTH_CACHE_SECONDS=seconds)


# --- the cache on its own ----------------------------------------------------------------


def test_cache_is_bounded_and_drops_the_oldest_first(clock: FakeClock) -> None:
    bounded = PrincipalCache(TTL, max_entries=3, clock=clock)
    for user_id in range(1, 6):
        bounded.put(user_id, False, since=bounded.generation())
        clock.advance(0.1)
    assert len(bounded) == 3
    assert [bounded.get(i) for i in range(1, 6)] == [None, None, False, False, False]


def test_a_cache_of_one_keeps_the_newest(clock: FakeClock) -> None:
    single = PrincipalCache(TTL, max_entries=1, clock=clock)
    single.put(1, False, since=single.generation())
    single.put(2, True, since=single.generation())
    assert (len(single), single.get(1), single.get(2)) == (1, None, True)


def test_full_cache_drops_expired_entries_before_fresh_ones(clock: FakeClock) -> None:
    bounded = PrincipalCache(TTL, max_entries=3, clock=clock)
    bounded.put(1, False, since=bounded.generation())
    bounded.put(2, False, since=bounded.generation())
    clock.advance(TTL - 1)
    bounded.put(3, True, since=bounded.generation())
    clock.advance(1)  # 1 and 2 expire now, 3 is still fresh
    bounded.put(4, False, since=bounded.generation())
    assert len(bounded) == 2
    assert (bounded.get(3), bounded.get(4)) == (True, False)


def test_storing_again_refreshes_an_entry(clock: FakeClock) -> None:
    bounded = PrincipalCache(TTL, max_entries=2, clock=clock)
    bounded.put(1, False, since=bounded.generation())
    bounded.put(2, False, since=bounded.generation())
    clock.advance(1)
    bounded.put(1, True, since=bounded.generation())  # now the newest
    bounded.put(3, False, since=bounded.generation())
    assert (bounded.get(1), bounded.get(2), bounded.get(3)) == (True, None, False)
    clock.advance(TTL - 0.5)
    assert bounded.get(1) is True  # past its first expiry: the refresh counts
    clock.advance(0.5)
    assert bounded.get(1) is None


def test_a_lookup_overtaken_by_an_eviction_is_not_stored(clock: FakeClock) -> None:
    cache = PrincipalCache(TTL, clock=clock)
    since = cache.generation()
    cache.evict(1)  # a change committed while the lookup awaited the database
    cache.put(1, True, since=since)
    assert cache.get(1) is None
    cache.put(1, True, since=cache.generation())
    assert cache.get(1) is True


def test_zero_ttl_stores_nothing() -> None:
    disabled = PrincipalCache(0)
    disabled.put(1, True, since=disabled.generation())
    assert not disabled.is_enabled
    assert len(disabled) == 0
    assert disabled.get(1) is None


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        PrincipalCache(TTL, max_entries=0)
