"""The API docs load nothing from outside the service: every asset URL is local and served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core import docs
from app.main import create_app
from tests.conftest import SettingsFactory

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
PROD = {
    "STATUS": "prod",
    "SECRET_KEY": "a-production-secret-of-at-least-32-characters",
    "FIRST_SUPERUSER_PASSWORD": "a-production-admin-password",
    "ALLOW_SQLITE_IN_PROD": True,
}


def asset_urls(html: str) -> list[str]:
    return ASSET_REFERENCE.findall(html)


@pytest.fixture
async def prod_client(make_settings: SettingsFactory) -> AsyncIterator[AsyncClient]:
    built = create_app(make_settings(**PROD), configure_logging=False)
    async with LifespanManager(built):
        transport = ASGITransport(app=built, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_references_only_local_assets(client: AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = asset_urls(response.text)
    assert urls, "the page loads no script or stylesheet"
    for url in urls:
        assert url.startswith(f"{docs.ASSETS_URL}/"), url
    assert "cdn." not in response.text
    assert "fonts.googleapis" not in response.text
    assert "/openapi.json" in response.text


async def test_swagger_ui_never_asks_the_online_validator(client: AsyncClient) -> None:
    response = await client.get("/docs")

    assert '"validatorUrl": null' in response.text


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("swagger-ui-bundle.js", "text/javascript", b"SwaggerUIBundle"),
        ("swagger-ui.css", "text/css", b".swagger-ui"),
        ("redoc.standalone.js", "text/javascript", b"Redoc"),
        ("favicon.png", "image/png", b"\x89PNG"),
    ],
)
async def test_docs_assets_are_served_by_the_service(
    client: AsyncClient, name: str, content_type: str, marker: bytes
) -> None:
    response = await client.get(f"{docs.ASSETS_URL}/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.content


async def test_every_asset_the_pages_name_is_served(client: AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        for url in asset_urls(html):
            response = await client.get(url)
            assert response.status_code == 200, url
            assert len(response.content) > 1000, url


async def test_redoc_bundle_asks_no_outside_host_for_its_logo(client: AsyncClient) -> None:
    """ReDoc's side menu logo would come from a CDN, blocked by our CSP: a console error."""
    served = (await client.get(f"{docs.ASSETS_URL}/redoc.standalone.js")).content
    original = (docs.assets_folder() / "redoc.standalone.js").read_bytes()

    assert docs.REDOC_CDN_LOGO in original
    assert docs.REDOC_CDN_LOGO not in served
    assert docs.EMPTY_IMAGE in served
    assert len(served) == len(original) - len(docs.REDOC_CDN_LOGO) + len(docs.EMPTY_IMAGE)


async def test_oauth2_redirect_page_is_local(client: AsyncClient) -> None:
    response = await client.get(docs.OAUTH2_REDIRECT_URL)

    assert response.status_code == 200
    assert "<script" in response.text
    assert "http" not in response.text.split("<script", 1)[1].split("</script>", 1)[0].lower()


async def test_docs_follow_the_root_path_behind_a_proxy(application: FastAPI) -> None:
    behind_proxy = ASGITransport(app=application, root_path="/svc")
    async with AsyncClient(transport=behind_proxy, base_url="http://testserver") as http:
        html = (await http.get("/svc/docs")).text

    urls = asset_urls(html)
    assert urls
    for url in urls:
        assert url.startswith(f"/svc{docs.ASSETS_URL}/"), url
    assert "url: '/svc/openapi.json'" in html


async def test_docs_are_off_in_prod_by_default(prod_client: AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", f"{docs.ASSETS_URL}/swagger-ui.css"):
        response = await prod_client.get(path)
        assert response.status_code == 404, path


async def test_docs_enabled_turns_them_on_in_prod(make_settings: SettingsFactory) -> None:
    built = create_app(make_settings(**PROD, DOCS_ENABLED=True), configure_logging=False)
    async with LifespanManager(built):
        transport = ASGITransport(app=built, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/docs")).status_code == 200
            assert (await http.get("/redoc")).status_code == 200
            assert (await http.get(f"{docs.ASSETS_URL}/redoc.standalone.js")).status_code == 200


def test_missing_assets_are_reported_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "ASSET_NAMES", (*docs.ASSET_NAMES, "not-shipped.js"))

    with pytest.raises(RuntimeError, match=r"not-shipped\.js"):
        docs.assets_folder()
