"""The credentials in the OpenAPI document: each scheme the server takes, and on every
operation that resolves its caller, the schemes as alternatives (any one authenticates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.routing import BaseRoute

from app.users.dependencies import (
    PrincipalResolver,
    api_key_scheme,
    oauth2_scheme,
    service_token_scheme,
)

SCHEMES: tuple[SecurityBase, ...] = (oauth2_scheme, service_token_scheme, api_key_scheme)


def _resolves_principal(dependant: Dependant) -> bool:
    return isinstance(dependant.call, PrincipalResolver) or any(
        _resolves_principal(sub) for sub in dependant.dependencies
    )


def document_credentials(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """`schema` with the credential schemes declared, and required by the operations whose
    routes depend on `PrincipalResolver` (the routes as served: prefixes included)."""
    components = schema.setdefault("components", {})
    declared = components.setdefault("securitySchemes", {})
    for scheme in SCHEMES:
        declared[scheme.scheme_name] = scheme.model.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    paths = schema.get("paths", {})
    for route in iter_route_contexts(routes):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        if not _resolves_principal(route.dependant):
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{scheme.scheme_name: []} for scheme in SCHEMES]
    return schema
