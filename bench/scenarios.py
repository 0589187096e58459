"""The servers and scenarios of a run, and which baseline each scenario is compared with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.load import Request

API = "/api/v1"
BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-0123456789"  # noqa: S105 (a throwaway account)
SEED_ITEMS = 25

APP = "app"
APP_LOG_SAVE = "app-jsonlog-save"
APP_LOG_OFF = "app-logging-off"
BARE_ROUTE = "bare-route"
BARE_ROUTE_DEFAULTS = "bare-route-fastapi-defaults"
BARE_DB = "bare-sqlalchemy"

# The service's environment variables per server role (on top of the run's base environment).
ROLE_TARGETS = {
    APP: "app.main:app",
    APP_LOG_SAVE: "app.main:app",
    APP_LOG_OFF: "app.main:app",
    BARE_ROUTE: "bench.baselines.bare_route:app",
    BARE_ROUTE_DEFAULTS: "bench.baselines.bare_route:default_app",
    BARE_DB: "bench.baselines.bare_db:app",
}
ROLE_ENV = {
    APP: {},
    APP_LOG_SAVE: {"JSON_LOG": "true", "SAVE": "true", "ACCESS_LOG": "true", "LEVEL": "INFO"},
    APP_LOG_OFF: {"ACCESS_LOG": "false", "LEVEL": "WARNING"},
    BARE_ROUTE: {},
    BARE_ROUTE_DEFAULTS: {},
    BARE_DB: {},
}
# Roles whose app opens no database connection (left out when pools are sized to fit).
NO_DATABASE_ROLES = frozenset({BARE_ROUTE, BARE_ROUTE_DEFAULTS})


@dataclass(frozen=True)
class Scenario:
    name: str
    role: str
    request: Request
    connections: int = 16
    baseline: str | None = None  # the scenario whose CPU per request this one is divided by
    target: float | None = None  # the largest such ratio we accept


@dataclass(frozen=True)
class Fixture:
    """What the seeding left in the database: a token and an item of the bench user."""

    token: str
    item_id: int


HEALTH_FULL = "GET /health/live (full stack)"
HEALTH_BARE = "GET /health/live (bare route)"
HEALTH_BARE_DEFAULTS = "GET /health/live (bare route, FastAPI defaults)"
READ_AUTH = "GET item by id (authenticated)"
READ_BARE = "GET item by id (bare SQLAlchemy)"
LOG_ON = "GET /health/live (JSON access log + SAVE)"
LOG_OFF = "GET /health/live (logging off)"
READ_LOG_ON = "GET item by id (JSON access log + SAVE)"
READ_LOG_OFF = "GET item by id (logging off)"


APP_VARIANT = "app-variant"


def variant_groups(fixture: Fixture, label: str) -> list[list[Scenario]]:
    """The service as it is against the service with other settings (`--variant KEY=VALUE`),
    back to back, so a change's effect is measured in one run instead of across two."""
    read = Request(f"{API}/items/{fixture.item_id}", token=fixture.token)
    return [
        [
            Scenario(name, APP, request),
            Scenario(f"{name} [{label}]", APP_VARIANT, request, baseline=name),
        ]
        for name, request in ((HEALTH_FULL, Request("/health/live")), (READ_AUTH, read))
    ]


def groups(fixture: Fixture) -> list[list[Scenario]]:
    """Scenarios run back to back within a group (in reverse order every other round), so a
    scenario and its baseline see the same machine: A B, B A, A B..."""
    auth = fixture.token
    read = Request(f"{API}/items/{fixture.item_id}", token=auth)
    create_body = json.dumps({"title": "bench item", "description": "made by the benchmark"})
    login_body = urlencode({"username": BENCH_EMAIL, "password": BENCH_PASSWORD})
    return [
        [
            Scenario(HEALTH_FULL, APP, Request("/health/live"), baseline=HEALTH_BARE, target=1.3),
            Scenario(HEALTH_BARE, BARE_ROUTE, Request("/health/live")),
            # FastAPI's default OpenTelemetry probe, which the service and `BARE_ROUTE` skip.
            Scenario(
                HEALTH_BARE_DEFAULTS,
                BARE_ROUTE_DEFAULTS,
                Request("/health/live"),
                baseline=HEALTH_BARE,
            ),
        ],
        [
            Scenario(
                READ_AUTH,
                APP,
                read,
                baseline=READ_BARE,
                target=1.5,
            ),
            Scenario(READ_BARE, BARE_DB, Request(f"/items/{fixture.item_id}")),
            Scenario(
                "GET list of 20 items (authenticated)",
                APP,
                Request(f"{API}/items?limit=20", token=auth),
                baseline=READ_BARE,
            ),
            Scenario(
                "POST item (authenticated)",
                APP,
                Request(
                    f"{API}/items",
                    method="POST",
                    body=create_body,
                    content_type="application/json",
                    token=auth,
                ),
                baseline=READ_BARE,
            ),
            Scenario(
                "POST login (argon2id)",
                APP,
                Request(
                    f"{API}/auth/token",
                    method="POST",
                    body=login_body,
                    content_type="application/x-www-form-urlencoded",
                ),
                # argon2id holds ~19 MiB per hash in flight: a few callers saturate the CPU.
                connections=4,
                baseline=READ_BARE,
            ),
        ],
        [
            Scenario(LOG_ON, APP_LOG_SAVE, Request("/health/live"), baseline=LOG_OFF),
            Scenario(LOG_OFF, APP_LOG_OFF, Request("/health/live")),
        ],
        [
            Scenario(READ_LOG_ON, APP_LOG_SAVE, read, baseline=READ_LOG_OFF),
            Scenario(READ_LOG_OFF, APP_LOG_OFF, read),
        ],
    ]
