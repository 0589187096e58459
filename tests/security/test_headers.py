"""Security headers on every response, errors and the last-resort 500 included; CORS and
trusted hosts from settings."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from starlette.types import Message, Receive, Scope, Send

from app.core.middleware import RequestContextMiddleware
from tests.assertions import assert_problem
from tests.security.conftest import AppFactory

BASELINE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_baseline(headers: dict[str, str] | object) -> None:
    for name, value in BASELINE.items():
        assert headers[name] == value, name  # type: ignore[index]


@pytest.mark.parametrize("path", ["/health/live", "/api/v1/version", "/nowhere", "/openapi.json"])
async def test_every_response_carries_the_baseline_and_strict_csp(
    client: AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert_baseline(response.headers)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "strict-transport-security" not in response.headers
    # It only acts on documents; these answers are JSON.
    assert "cross-origin-opener-policy" not in response.headers


async def test_last_resort_500_carries_headers_and_hides_internals_in_prod(
    app_factory: AppFactory,
) -> None:
    prod = {
        "STATUS": "prod",
        "SECRET_KEY": "k" * 40,
        "ALLOW_SQLITE_IN_PROD": True,
        "FIRST_SUPERUSER_PASSWORD": "a-long-admin-password-42",
    }
    async with app_factory(**prod) as (_, client):
        response = await client.get("/api/v1/probe/boom")
    body = assert_problem(response, 500, "internal_error")
    assert_baseline(response.headers)
    assert "secret internal detail" not in response.text
    assert "detail" not in body


async def test_dev_500_names_the_error_for_the_developer(app_factory: AppFactory) -> None:
    async with app_factory() as (_, client):
        response = await client.get("/api/v1/probe/boom")
    assert assert_problem(response, 500)["detail"].startswith("RuntimeError")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_docs_pages_get_a_csp_that_lets_them_run_from_our_own_assets(
    client: AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp
    assert "style-src 'self' 'unsafe-inline'" in csp
    assert "worker-src 'self' blob:" in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" not in csp
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert_baseline(response.headers)


async def test_docs_csp_does_not_leak_to_look_alike_paths(client: AsyncClient) -> None:
    response = await client.get("/docsomething")
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_hsts_only_when_configured(app_factory: AppFactory) -> None:
    async with app_factory(HSTS_SECONDS=31536000) as (_, client):
        response = await client.get("/health/live")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer abc"}, {"X-Token": "whatever"}])
async def test_responses_to_credentialed_requests_are_not_stored(
    client: AsyncClient, credentials: dict[str, str]
) -> None:
    response = await client.get("/api/v1/version", headers=credentials)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [({"authorization": "Bearer abc"}, [b"max-age=60"]), ({}, [b"max-age=60"])],
)
async def test_a_route_that_chose_its_caching_keeps_it(
    credentials: dict[str, str], expected: list[bytes]
) -> None:
    async def cached(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"2"), (b"cache-control", b"max-age=60")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/cached",
        "headers": [(name.encode(), value.encode()) for name, value in credentials.items()],
    }
    await RequestContextMiddleware(cached, access_log=False)(scope, receive, send)
    headers = sent[0]["headers"]
    assert [value for name, value in headers if name == b"cache-control"] == expected
    assert (b"x-content-type-options", b"nosniff") in headers
    assert sent[1] == {"type": "http.response.body", "body": b"{}"}


async def test_anonymous_responses_keep_their_own_caching(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert "cache-control" not in response.headers


async def test_cors_allows_only_listed_origins(app_factory: AppFactory) -> None:
    allowed = "https://app.example"
    async with app_factory(CORS_ORIGINS=allowed) as (_, client):
        preflight = await client.options(
            "/api/v1/version",
            headers={"Origin": allowed, "Access-Control-Request-Method": "GET"},
        )
        ok = await client.get("/api/v1/version", headers={"Origin": allowed})
        foreign = await client.get("/api/v1/version", headers={"Origin": "https://evil.example"})
        bad_preflight = await client.options(
            "/api/v1/version",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == allowed
    assert ok.headers["access-control-allow-origin"] == allowed
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in foreign.headers
    body = assert_problem(bad_preflight, 400, "cors_refused")
    assert "origin" in body["detail"]
    assert "access-control-allow-origin" not in bad_preflight.headers
    assert bad_preflight.headers["x-content-type-options"] == "nosniff"


async def test_no_cors_headers_by_default(client: AsyncClient) -> None:
    response = await client.get("/api/v1/version", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_unknown_host_is_refused_in_the_envelope(app_factory: AppFactory) -> None:
    async with app_factory(TRUSTED_HOSTS="api.example.com,*.internal.example") as (_, client):
        good = await client.get("/api/v1/version", headers={"Host": "api.example.com:8443"})
        sub = await client.get("/api/v1/version", headers={"Host": "svc.internal.example"})
        bad = await client.get("/api/v1/version", headers={"Host": "evil.example"})
        suffix_trick = await client.get("/api/v1/version", headers={"Host": "evilinternal.example"})
        probe = await client.get("/health/live", headers={"Host": "10.1.2.3:8000"})
    assert good.status_code == 200
    assert sub.status_code == 200
    assert_problem(bad, 400, "invalid_host")
    assert_problem(suffix_trick, 400, "invalid_host")
    assert_baseline(bad.headers)
    assert probe.status_code == 200  # kubelets probe by the pod's address


async def test_a_star_among_trusted_hosts_accepts_any(app_factory: AppFactory) -> None:
    async with app_factory(TRUSTED_HOSTS="api.example.com,*") as (_, client):
        response = await client.get("/api/v1/version", headers={"Host": "other.example"})
    assert response.status_code == 200
