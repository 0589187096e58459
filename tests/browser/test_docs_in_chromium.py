"""Swagger UI and ReDoc render in a real headless Chromium with every outside request blocked:
proof that the docs work on a network with no internet.

Uses Debian's chromium (/usr/bin/chromium; `.ci/ship.sh` installs it) driven by Playwright,
which never downloads a browser here. They take half a minute, so they run when asked:
BROWSER_TESTS=1 (`make ship-check` and CI set it), and then a missing browser fails instead
of passing quietly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import dbutil
from tests.servers import uvicorn_server

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
# Tags whose operations must show up in both renderers.
REQUIRED_TAGS = {"health", "auth", "users", "items"}
ADMIN_EMAIL = "docs-admin@example.com"
ADMIN_PASSWORD = "docs-browser-test-password"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if os.environ.get("BROWSER_TESTS") != "1":
    pytest.skip("browser tests run with BROWSER_TESTS=1 (make ship-check)", allow_module_level=True)
if not CHROMIUM.exists():
    raise RuntimeError(f"BROWSER_TESTS=1 but {CHROMIUM} is missing: apt-get install chromium")

from playwright.sync_api import Browser, Locator, Page, Route, sync_playwright  # noqa: E402


@dataclass
class Traffic:
    """What the page asked for: local requests served, outside ones aborted."""

    local: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            self.local.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
        body: bytes = response.read()
        return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on 127.0.0.1 with docs on and a migrated SQLite database, stopped by PID."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite+aiosqlite:///{folder / 'app.db'}"
    dbutil.upgrade(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DOCS_ENABLED": "true",
        "STATUS": "dev",
        "RATE_LIMIT_ENABLED": "false",
        "ACCESS_LOG": "false",
        "LEVEL": "WARNING",
        "FIRST_SUPERUSER_EMAIL": ADMIN_EMAIL,
        "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "app.cli", "create-superuser"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with uvicorn_server(folder, env) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def expected_tags(server: str) -> set[str]:
    """Every tag the API's operations carry; the renderers must show them all."""
    schema = json.loads(_get(f"{server}/openapi.json"))
    tags = {
        tag
        for path in schema["paths"].values()
        for operation in path.values()
        for tag in operation.get("tags", [])
    }
    assert tags >= REQUIRED_TAGS
    return tags


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Traffic]]:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    traffic = Traffic()
    context.route("**/*", traffic.route)
    opened = context.new_page()
    try:
        yield opened, traffic
    finally:
        context.close()


def test_swagger_ui_renders_every_tag_offline(
    server: str, expected_tags: set[str], page: tuple[Page, Traffic]
) -> None:
    tab, traffic = page
    response = tab.goto(f"{server}/docs", wait_until="networkidle")
    assert response is not None
    assert response.ok
    tab.wait_for_selector(".opblock-tag", timeout=15_000)

    rendered = {
        text.strip().split("\n")[0] for text in tab.locator(".opblock-tag").all_inner_texts()
    }
    paths = set(tab.locator(".opblock-summary-path").all_inner_texts())
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=ARTIFACTS / "docs-swagger-ui.png", full_page=True)

    assert expected_tags <= rendered
    assert "/health/live" in {path.replace("\u200b", "") for path in paths}
    assert traffic.blocked == []
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in traffic.local)
    assert any(url.endswith("/openapi.json") for url in traffic.local)


def test_redoc_renders_every_tag_offline(
    server: str, expected_tags: set[str], page: tuple[Page, Traffic]
) -> None:
    tab, traffic = page
    response = tab.goto(f"{server}/redoc", wait_until="networkidle")
    assert response is not None
    assert response.ok
    tab.wait_for_selector("[data-section-id^='tag/']", state="attached", timeout=20_000)

    sections = tab.locator("[data-section-id^='tag/']").evaluate_all(
        "elements => elements.map(e => e.getAttribute('data-section-id'))"
    )
    rendered = {section.split("/", 1)[1] for section in sections}
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=ARTIFACTS / "docs-redoc.png", full_page=False)

    assert {_redoc_slug(tag) for tag in expected_tags} <= {_redoc_slug(s) for s in rendered}
    assert traffic.blocked == []  # not even ReDoc's own logo (app/core/docs.py)
    assert any(url.endswith("/docs/assets/redoc.standalone.js") for url in traffic.local)


def _redoc_slug(tag: str) -> str:
    """ReDoc names a tag's section by a slug of it ("api keys" becomes "api-keys")."""
    return re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")


def test_swagger_ui_login_and_try_it_out_work_offline(
    server: str, page: tuple[Page, Traffic]
) -> None:
    """The README's first steps: Authorize with the password flow, then call /users/me."""
    tab, traffic = page
    tab.goto(f"{server}/docs", wait_until="networkidle")
    _authorize_with_password(tab)

    operation = tab.locator("#operations-users-read_me_api_v1_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response td.response-col_status").first
    status.wait_for(timeout=15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=ARTIFACTS / "docs-swagger-ui-try-it-out.png", full_page=False)

    assert status.inner_text().strip() == "200"
    assert ADMIN_EMAIL in operation.locator(".live-responses-table").inner_text()
    assert any(url.endswith("/api/v1/auth/token") for url in traffic.local)
    assert traffic.blocked == []


def test_an_api_key_is_made_and_used_from_swagger_ui(
    server: str, page: tuple[Page, Traffic]
) -> None:
    """docs/identity.md's key steps: create a key signed in with a password, log out of the
    password flow, give the key to Authorize's ApiKey field and call the API with it alone."""
    tab, traffic = page
    tab.goto(f"{server}/docs", wait_until="networkidle")
    _authorize_with_password(tab)
    body = '{"name": "from-docs", "scopes": ["items:read"]}'
    status, answer = _try_it_out(tab, "post", "/api/v1/users/me/api-keys", body)
    assert status == "201", answer
    key = json.loads(answer)["key"]

    tab.locator("button.authorize").first.click()
    password_flow = _auth_form(tab, "OAuth2PasswordBearer")
    password_flow.locator("button", has_text="Logout").click()
    api_key = _auth_form(tab, "ApiKey")
    api_key.locator("input").fill(key)
    api_key.locator("button.authorize").click()
    api_key.locator("button", has_text="Logout").wait_for(timeout=15_000)
    api_key.locator("button.btn-done").click()

    items_status, _ = _try_it_out(tab, "get", "/api/v1/items")
    keys_status, refused = _try_it_out(tab, "get", "/api/v1/users/me/api-keys")
    assert items_status == "200"
    assert keys_status == "403"  # the key alone spoke: keys cannot manage keys
    assert "session_required" in refused
    assert traffic.blocked == []


def _authorize_with_password(tab: Page) -> None:
    tab.locator("button.authorize").first.click()
    tab.fill("#oauth_username", ADMIN_EMAIL)
    tab.fill("#oauth_password", ADMIN_PASSWORD)
    tab.locator(".auth-btn-wrapper button.authorize").first.click()
    tab.locator(".auth-btn-wrapper button", has_text="Logout").first.wait_for(timeout=15_000)
    tab.locator("button.btn-done").first.click()


def _auth_form(tab: Page, scheme: str) -> Locator:
    """One security scheme's part of the Authorize dialog."""
    heading = tab.locator("h4", has_text=re.compile(rf"^\s*{scheme}\b"))
    return tab.locator(".modal-ux .auth-container", has=heading)


def _try_it_out(tab: Page, method: str, path: str, body: str | None = None) -> tuple[str, str]:
    """(status, response body) of one operation run from Swagger UI with "Try it out"."""
    summary = tab.locator(f".opblock-summary-path[data-path='{path}']")
    operation = tab.locator(f".opblock-{method}", has=summary)
    if not operation.locator(".opblock-body").is_visible():
        operation.locator(".opblock-summary").click()
    try_out = operation.locator("button.try-out__btn")
    if try_out.inner_text().strip() == "Try it out":
        try_out.click()
    if body is not None:
        operation.locator("textarea.body-param__text").fill(body)
    operation.locator("button.execute").click()
    row = operation.locator(".live-responses-table tr.response").first
    row.wait_for(timeout=15_000)
    status = row.locator("td.response-col_status").inner_text().strip()
    answer = row.locator(".response-col_description pre").first.inner_text()
    return status, answer
