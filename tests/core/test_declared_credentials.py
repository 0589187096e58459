"""A dependency that takes credentials declares its schemes (`openapi_schemes`) instead of
depending on them: the document lists them, on exactly the operations that depend on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from app.core.docs import declare_credentials

BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False)
KEY = APIKeyHeader(name="X-Key", scheme_name="Key", auto_error=False)


class Caller:
    openapi_schemes = (BEARER, KEY)

    async def __call__(self, request: Request) -> str:
        return request.headers.get("X-Key", "")


async def owner(caller: Annotated[str, Depends(Caller())]) -> str:
    return caller


def _app() -> FastAPI:
    router = APIRouter()

    @router.get("/mine")
    async def mine(who: Annotated[str, Depends(owner)]) -> str:  # through a sub-dependency
        return who

    @router.post("/open")
    async def open_to_all() -> str:
        return "ok"

    app = FastAPI()
    app.include_router(router, prefix="/api")
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    return declare_credentials(app.openapi(), app.routes)


def test_the_schemes_are_declared_once_as_fastapi_would() -> None:
    schemes = _document(_app())["components"]["securitySchemes"]
    assert schemes == {
        "Bearer": {"type": "http", "scheme": "bearer"},
        "Key": {"type": "apiKey", "in": "header", "name": "X-Key"},
    }


def test_only_operations_depending_on_them_require_them_as_alternatives() -> None:
    paths = _document(_app())["paths"]
    assert paths["/api/mine"]["get"]["security"] == [{"Bearer": []}, {"Key": []}]
    assert "security" not in paths["/api/open"]["post"]


def test_no_dependency_with_schemes_declares_nothing() -> None:
    app = FastAPI()

    @app.get("/plain")
    async def plain() -> str:
        return "ok"

    document = _document(app)
    assert "securitySchemes" not in document.get("components", {})
    assert "security" not in document["paths"]["/plain"]["get"]
