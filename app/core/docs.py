"""API docs that need no internet: Swagger UI at `/docs` and ReDoc at `/redoc`, their assets
served by the service itself from the bundles the `fastapi-offline` wheel ships (FastAPI's own
pages load them from a CDN, which an internal network cannot reach); and the credentials the
OpenAPI document declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

# No call home: Swagger UI's spec validator badge would ask an outside host about our spec.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {**swagger_ui_default_parameters, "validatorUrl": None}
SWAGGER_UI_PARAMETERS["persistAuthorization"] = True
# ReDoc's side menu shows a logo from a CDN that our CSP (and an internal network) blocks, a
# console error on every page: the bundle is served with an empty image in its place.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = (
    b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='0' height='0'/%3E"
)


def assets_folder() -> Path:
    """The folder inside the installed `fastapi_offline` package that holds the bundles."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in ASSET_NAMES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is missing docs assets: {', '.join(missing)}")
    return folder


@cache
def redoc_bundle() -> bytes:
    """ReDoc's bundle with no outside image in it."""
    return (
        (assets_folder() / "redoc.standalone.js").read_bytes().replace(REDOC_CDN_LOGO, EMPTY_IMAGE)
    )


def install(app: FastAPI) -> None:
    """Add `/docs`, `/redoc`, the OAuth2 redirect page and the assets they load."""
    openapi_url = app.openapi_url
    assert openapi_url is not None, "the docs need the OpenAPI schema"  # noqa: S101

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript; charset=utf-8")

    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")

    def asset(request: Request, name: str) -> str:
        # root_path: behind a proxy that strips a prefix, the browser needs the full path.
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )


def _credential_schemes(dependant: Dependant) -> tuple[SecurityBase, ...]:
    """The schemes the first dependency in the tree that takes credentials declares."""
    schemes: tuple[SecurityBase, ...] = getattr(dependant.call, "openapi_schemes", ())
    for sub in dependant.dependencies:
        schemes = schemes or _credential_schemes(sub)
    return schemes


def declare_credentials(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """`schema` with the credentials of every dependency that takes them (its `openapi_schemes`,
    e.g. the users' `PrincipalResolver`) declared, and required, as alternatives, by the
    operations that depend on one. FastAPI declares only schemes that are dependencies, and
    solves those on every request."""
    paths = schema.get("paths", {})
    for route in iter_route_contexts(routes):  # as served: included prefixes applied
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        schemes = _credential_schemes(route.dependant)
        if not schemes:
            continue
        declared = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for scheme in schemes:
            model = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            declared[scheme.scheme_name] = model
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{scheme.scheme_name: []} for scheme in schemes]
    return schema
