"""/openapi.json declares every credential the server takes, on exactly the operations that take
it: Swagger's Authorize dialog offers each, and clients generated from the schema can send them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from httpx import AsyncClient

from app.users.dependencies import API_KEY_HEADER, SERVICE_TOKEN_HEADER, PrincipalResolver
from tests.factories import account

API = "/api/v1"
# Each credential a caller may send, as alternatives: any one of them authenticates.
ALTERNATIVES: list[dict[str, list[str]]] = [
    {"OAuth2PasswordBearer": []},
    {"ServiceToken": []},
    {"ApiKey": []},
]


def _resolves_principal(dependant: Dependant) -> bool:
    return isinstance(dependant.call, PrincipalResolver) or any(
        _resolves_principal(sub) for sub in dependant.dependencies
    )


def _operations_taking_credentials(application: FastAPI) -> tuple[set[str], set[str]]:
    """("METHOD path" of operations resolving the caller from its credentials, of the rest)."""
    taking: set[str] = set()
    others: set[str] = set()
    for route in iter_route_contexts(application.routes):  # as served, with included prefixes
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        found = taking if _resolves_principal(route.dependant) else others
        found.update(f"{method} {route.path_format}" for method in route.methods or ())
    return taking, others


async def _schema(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_each_credential_header_is_its_own_security_scheme(client: AsyncClient) -> None:
    schemes = (await _schema(client))["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == f"{API}/auth/token"
    headers = {
        name: (scheme["in"], scheme["name"])
        for name, scheme in schemes.items()
        if scheme["type"] == "apiKey"
    }
    assert headers == {
        "ServiceToken": ("header", SERVICE_TOKEN_HEADER),
        "ApiKey": ("header", API_KEY_HEADER),
    }


async def test_every_operation_taking_credentials_lists_the_api_key(
    client: AsyncClient, application: FastAPI
) -> None:
    paths = (await _schema(client))["paths"]
    taking, others = _operations_taking_credentials(application)
    assert f"GET {API}/items" in taking
    assert f"POST {API}/users/me/api-keys" in taking  # a key is refused there, with 403
    assert f"POST {API}/auth/token" in others
    for operation in sorted(taking):
        method, path = operation.split(" ", 1)
        assert paths[path][method.lower()]["security"] == ALTERNATIVES, operation
    for operation in sorted(others):
        method, path = operation.split(" ", 1)
        assert "security" not in paths[path][method.lower()], operation


async def test_the_declared_api_key_scheme_is_what_the_server_takes(
    client: AsyncClient, application: FastAPI
) -> None:
    """A client that reads the scheme from the schema sends the key where the server reads it."""
    scheme = (await _schema(client))["components"]["securitySchemes"]["ApiKey"]
    user = await account(application, client)
    created = await client.post(
        f"{API}/users/me/api-keys",
        json={"name": "from-the-schema", "scopes": ["items:read"]},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    by_key = {scheme["name"]: created.json()["key"]}
    assert (await client.get(f"{API}/items", headers=by_key)).status_code == 200
    refused = await client.get(f"{API}/items", headers={scheme["name"]: "sk_not-a-key"})
    assert refused.status_code == 401
