"""The OWASP API Security Top 10 (2023), attacked through HTTP as a client would.

API6 (sensitive business flows), API7 (server-side request forgery) and API10 (unsafe
consumption of APIs) have no surface here: the service makes no outbound calls and has no
flow worth automating beyond login, which API2 and API4 cover.
"""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.security import create_access_token
from app.items.models import Item
from tests.assertions import assert_no_secrets, assert_problem
from tests.factories import DEFAULT_PASSWORD, account, create_user, service_headers
from tests.security.conftest import AppFactory, client_for

API = "/api/v1"
ITEMS = f"{API}/items"
USERS = f"{API}/users"
ME = f"{API}/users/me"
TOKEN = f"{API}/auth/token"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _secret(application: FastAPI) -> str:
    settings: Settings = application.state.settings
    return settings.SECRET_KEY.get_secret_value()


async def _item_count(application: FastAPI) -> int:
    async with application.state.session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(Item))).scalar_one())


# --- API1: broken object-level authorization ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", {"title": "x"}), ("PATCH", {"title": "x"}), ("DELETE", None)],
)
async def test_api1_foreign_item_ids_look_missing_and_stay_untouched(
    client: AsyncClient, application: FastAPI, method: str, body: dict[str, str] | None
) -> None:
    owner = await account(application, client)
    intruder = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "private"}, headers=owner.headers)).json()
    attack = await client.request(
        method, f"{ITEMS}/{item['id']}", json=body, headers=intruder.headers
    )
    assert_problem(attack, 404, "item_not_found")
    assert (await client.get(f"{ITEMS}/{item['id']}", headers=owner.headers)).json() == item


async def test_api1_sequential_ids_reveal_nothing(
    client: AsyncClient, application: FastAPI
) -> None:
    owner = await account(application, client)
    intruder = await account(application, client)
    ids = [
        (await client.post(ITEMS, json={"title": f"t{i}"}, headers=owner.headers)).json()["id"]
        for i in range(3)
    ]
    probes = [await client.get(f"{ITEMS}/{i}", headers=intruder.headers) for i in range(1, 50)]
    assert {p.status_code for p in probes} == {404}
    listing = await client.get(ITEMS, headers=intruder.headers, params={"limit": 100})
    assert not {i["id"] for i in listing.json()["items"]} & set(ids)


async def test_api1_user_cannot_create_items_for_someone_else(
    client: AsyncClient, application: FastAPI
) -> None:
    victim = await account(application, client)
    intruder = await account(application, client)
    response = await client.post(
        ITEMS, json={"title": "planted", "owner_id": victim.id}, headers=intruder.headers
    )
    assert_problem(response, 403)
    assert await _item_count(application) == 0


# --- API2: broken authentication -------------------------------------------------------------


def _alg_none_token(subject: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": str(subject), "iat": now, "exp": now + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_api2_every_bad_token_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user_id, _ = await create_user(application)
    secret = _secret(application)
    now = datetime.now(UTC)
    expired = create_access_token(str(user_id), secret, 30, now=now - timedelta(hours=2)).token
    forged = jwt.encode(
        {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=5)},
        "a-key-the-attacker-chose-0123456789",
        algorithm="HS256",
    )
    no_expiry = jwt.encode({"sub": str(user_id), "iat": now}, secret, algorithm="HS256")
    with warnings.catch_warnings():  # PyJWT warns that our key is short for HS512
        warnings.simplefilter("ignore")
        other_alg = jwt.encode(
            {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=5)},
            secret,
            algorithm="HS512",
        )
    tampered = create_access_token(str(user_id), secret, 30).token[:-4] + "AAAA"
    for token in (
        "garbage",
        "",
        expired,
        forged,
        _alg_none_token(user_id),
        no_expiry,
        other_alg,
        tampered,
    ):
        response = await client.get(ME, headers=_bearer(token))
        assert_problem(response, 401)
        assert "www-authenticate" in response.headers
    good = create_access_token(str(user_id), secret, 30).token
    assert (await client.get(ME, headers=_bearer(good))).status_code == 200


async def test_api2_wrong_service_token_is_refused(client: AsyncClient) -> None:
    for token in ("wrong", "test-service-token-012345678", "x" * 1000):
        assert_problem(await client.get(USERS, headers={"X-Token": token}), 401)


async def test_api2_token_of_a_deleted_or_disabled_user_is_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    gone = await account(application, client)
    disabled = await account(application, client)
    admin = service_headers(application)
    assert (await client.delete(f"{USERS}/{gone.id}", headers=admin)).status_code == 204
    patched = await client.patch(f"{USERS}/{disabled.id}", json={"is_active": False}, headers=admin)
    assert patched.status_code == 200
    assert_problem(await client.get(ME, headers=gone.headers), 401)
    assert_problem(await client.get(ME, headers=disabled.headers), 401)


async def test_api2_brute_force_login_hits_429_even_with_the_right_password(
    app_factory: AppFactory,
) -> None:
    async with app_factory(RATE_LIMIT_ENABLED=True, RATE_LIMIT_LOGIN="5/minute") as (app, client):
        _, email = await create_user(app)
        guesses = [
            await client.post(TOKEN, data={"username": email, "password": f"guess-{i}"})
            for i in range(5)
        ]
        locked = await client.post(TOKEN, data={"username": email, "password": DEFAULT_PASSWORD})
    assert [g.status_code for g in guesses] == [401] * 5
    body = assert_problem(locked, 429, "rate_limited")
    assert int(locked.headers["retry-after"]) >= 1
    assert "access_token" not in body


async def test_api2_spraying_from_many_addresses_is_stopped_per_account(
    app_factory: AppFactory,
) -> None:
    async with app_factory(RATE_LIMIT_ENABLED=True, RATE_LIMIT_LOGIN="3/minute") as (app, _):
        _, email = await create_user(app)
        statuses = []
        for n in range(4):
            async with client_for(app, f"198.51.100.{n + 1}") as client:
                response = await client.post(TOKEN, data={"username": email, "password": "bad"})
                statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]


# --- API3: broken object property-level authorization ---------------------------------------


async def _roles(client: AsyncClient, application: FastAPI, user_id: int) -> list[str]:
    answer = await client.get(f"{USERS}/{user_id}/roles", headers=service_headers(application))
    roles: list[str] = answer.json()["roles"]
    return roles


async def test_api3_sign_up_cannot_grant_itself_roles(
    client: AsyncClient, application: FastAPI
) -> None:
    body = {
        "email": "climber@example.com",
        "password": DEFAULT_PASSWORD,
        "is_superuser": True,
        "is_active": True,
        "id": 1,
    }
    assert_problem(await client.post(USERS, json=body), 422, "validation_error")
    signed_up = await client.post(USERS, json={k: body[k] for k in ("email", "password")})
    assert await _roles(client, application, signed_up.json()["id"]) == []


@pytest.mark.parametrize(
    "changes", [{"is_superuser": True}, {"is_active": False}, {"id": 99}, {"hashed_password": "x"}]
)
async def test_api3_users_cannot_change_protected_fields_of_themselves(
    client: AsyncClient, application: FastAPI, changes: dict[str, Any]
) -> None:
    user = await account(application, client)
    assert_problem(await client.patch(ME, json=changes, headers=user.headers), 422)
    me = (await client.get(ME, headers=user.headers)).json()
    assert await _roles(client, application, user.id) == []
    assert me["is_active"] is True
    assert me["id"] == user.id


@pytest.mark.parametrize(
    "changes",
    [{"owner_id": 1}, {"version": 99}, {"id": 5}, {"created_at": "2000-01-01T00:00:00Z"}],
)
async def test_api3_item_bookkeeping_fields_cannot_be_written(
    client: AsyncClient, application: FastAPI, changes: dict[str, Any]
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    assert_problem(await client.patch(url, json=changes, headers=user.headers), 422)
    assert_problem(await client.put(url, json={"title": "t", **changes}, headers=user.headers), 422)
    assert (await client.get(url, headers=user.headers)).json() == item


async def test_api3_no_response_carries_a_secret(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    admin = service_headers(application)
    await client.post(ITEMS, json={"title": "t"}, headers=user.headers)
    responses: list[Response] = [
        await client.post(USERS, json={"email": "new@example.com", "password": DEFAULT_PASSWORD}),
        await client.post(USERS, json={"email": "new@example.com", "password": DEFAULT_PASSWORD}),
        await client.post(USERS, json={"email": "bad", "password": "short-secret-pw"}),
        await client.post(TOKEN, data={"username": user.email, "password": "wrong-secret-pw"}),
        await client.get(ME, headers=user.headers),
        await client.patch(ME, json={"full_name": "N"}, headers=user.headers),
        await client.post(
            f"{ME}/password",
            json={"current_password": "wrong-secret-pw", "new_password": "x"},
            headers=user.headers,
        ),
        await client.get(USERS, headers=admin),
        await client.get(f"{USERS}/{user.id}", headers=admin),
        await client.patch(f"{USERS}/{user.id}", json={"full_name": "M"}, headers=admin),
        await client.get(ITEMS, headers=user.headers),
    ]
    for response in responses:
        assert_no_secrets(response.text)
        assert "wrong-secret-pw" not in response.text
        assert "short-secret-pw" not in response.text
        assert DEFAULT_PASSWORD not in response.text
        if response.headers["content-type"].startswith("application/json"):
            _assert_no_secret_keys(response.json())


def _assert_no_secret_keys(payload: Any) -> None:
    if isinstance(payload, dict):
        assert not {k for k in payload if "password" in k or "secret" in k}, payload
        for value in payload.values():
            _assert_no_secret_keys(value)
    elif isinstance(payload, list):
        for value in payload:
            _assert_no_secret_keys(value)


# --- API4: unrestricted resource consumption -----------------------------------------------


async def test_api4_body_over_the_limit_is_refused_and_writes_nothing(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    huge = json.dumps({"title": "t", "description": "d" * 2_000_000})
    response = await client.post(
        ITEMS, content=huge, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert await _item_count(application) == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (ITEMS, {"limit": 101}),
        (ITEMS, {"limit": 0}),
        (ITEMS, {"limit": -1}),
        (ITEMS, {"q": "x" * 10_000}),
        (ITEMS, {"cursor": "c" * 10_000}),
        (USERS, {"limit": 1000}),
        (USERS, {"offset": 10**9}),
    ],
)
async def test_api4_page_sizes_and_filters_are_capped(
    client: AsyncClient, application: FastAPI, path: str, params: dict[str, Any]
) -> None:
    admin = service_headers(application)
    user = await account(application, client)
    headers = admin if path == USERS else user.headers
    assert_problem(await client.get(path, params=params, headers=headers), 422)


async def test_api4_oversized_strings_are_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    for body in (
        {"title": "t" * 201},
        {"title": "t", "description": "d" * 5001},
        {"email": "x@example.com", "password": "p" * 10_000},
    ):
        url = USERS if "email" in body else ITEMS
        assert_problem(await client.post(url, json=body, headers=user.headers), 422)
    assert await _item_count(application) == 0


async def test_api4_over_long_password_is_not_hashed_at_login(
    client: AsyncClient, application: FastAPI
) -> None:
    _, email = await create_user(application)
    response = await client.post(TOKEN, data={"username": email, "password": "p" * 100_000})
    assert_problem(response, 401)


async def test_api4_default_rate_limit_guards_the_api(app_factory: AppFactory) -> None:
    async with app_factory(RATE_LIMIT_ENABLED=True, RATE_LIMIT_DEFAULT="5/minute") as (app, c):
        user = await account(app, c)  # login: 1 request
        statuses = [(await c.get(ITEMS, headers=user.headers)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


# --- API5: broken function-level authorization --------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", USERS, None),
        ("GET", f"{USERS}/{{other}}", None),
        ("PATCH", f"{USERS}/{{other}}", {"is_active": False}),
        ("PATCH", f"{USERS}/{{me}}", {"full_name": "x"}),
        ("PUT", f"{USERS}/{{me}}/roles", {"roles": ["admin"]}),
        ("GET", f"{USERS}/{{other}}/api-keys", None),
        ("POST", "/api/v1/roles", {"name": "mine", "permissions": ["*"]}),
        ("DELETE", f"{USERS}/{{other}}", None),
    ],
)
async def test_api5_users_cannot_call_superuser_routes(
    client: AsyncClient,
    application: FastAPI,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    user = await account(application, client)
    other = await account(application, client)
    url = path.format(other=other.id, me=user.id)
    response = await client.request(method, url, json=body, headers=user.headers)
    assert_problem(response, 403)
    admin = service_headers(application)
    for someone in (user, other):
        state = (await client.get(f"{USERS}/{someone.id}", headers=admin)).json()
        assert state["is_active"] is True
        assert await _roles(client, application, someone.id) == []
    assert "mine" not in {
        r["name"] for r in (await client.get("/api/v1/roles", headers=admin)).json()
    }


async def test_api5_anonymous_callers_reach_nothing_private(client: AsyncClient) -> None:
    for method, path in [
        ("GET", USERS),
        ("GET", ME),
        ("GET", ITEMS),
        ("POST", ITEMS),
        ("GET", f"{ITEMS}/1"),
        ("DELETE", f"{USERS}/1"),
    ]:
        assert_problem(await client.request(method, path, json={}), 401)


# --- API8: security misconfiguration ---------------------------------------------------------


PROD = {
    "STATUS": "prod",
    "SECRET_KEY": "k" * 40,
    "ALLOW_SQLITE_IN_PROD": True,
    "FIRST_SUPERUSER_PASSWORD": "a-long-admin-password-42",
    "X_TOKEN": "s" * 32,
}


async def test_api8_prod_hides_docs_and_internals(app_factory: AppFactory) -> None:
    async with app_factory(**PROD) as (_, client):
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert_problem(await client.get(path), 404)
        boom = await client.get(f"{API}/probe/boom")
    body = assert_problem(boom, 500, "internal_error")
    assert "detail" not in body
    assert "RuntimeError" not in boom.text
    assert "Traceback" not in boom.text


async def test_api8_security_headers_on_api_and_error_responses(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    for response in (
        await client.get(ITEMS, headers=user.headers),
        await client.get(ITEMS),
        await client.post(ITEMS, json={"title": ""}, headers=user.headers),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
    authed = await client.get(ITEMS, headers=user.headers)
    assert authed.headers["cache-control"] == "no-store"


async def test_api8_validation_errors_never_echo_the_input(client: AsyncClient) -> None:
    secret = "my-secret-passw0rd-is-short"
    response = await client.post(USERS, json={"email": "not-an-email", "password": secret})
    assert_problem(response, 422)
    assert secret not in response.text
    assert "not-an-email" not in response.text


async def test_api8_unknown_methods_and_paths_answer_in_the_envelope(client: AsyncClient) -> None:
    assert_problem(await client.get(f"{API}/admin"), 404)
    wrong_method = await client.put(USERS, json={})
    assert_problem(wrong_method, 405)
    assert wrong_method.headers["allow"] == "GET, POST"  # every method the path serves


# --- API9: improper inventory management ---------------------------------------------------


def test_api9_every_api_operation_is_in_the_published_schema(application: FastAPI) -> None:
    """No hidden endpoints: every operation served under the API prefix is documented."""
    paths = application.openapi()["paths"]
    documented = {
        (path, method.upper())
        for path, operations in paths.items()
        if path.startswith(API)
        for method in operations
    }
    operations = [op for op in _served_operations(application) if op[0].startswith(API)]
    served = {(path, method) for path, methods, _ in operations for method in methods}
    assert not [op for op in operations if not op[2]], "operations left out of the schema"
    assert served
    assert served == documented


def _served_operations(application: FastAPI) -> list[tuple[str, frozenset[str], bool]]:
    """(path, methods, documented?) of every route, through FastAPI's included routers."""
    out = []
    for route in application.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for context in contexts() if contexts is not None else [route]:
            methods = frozenset(getattr(context, "methods", None) or ())
            path = getattr(context, "path_format", context.path)
            out.append((path, methods, bool(getattr(context, "include_in_schema", False))))
    return out
