"""The servers and scenarios of a run, and which baseline each scenario is compared with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlencode

from bench.load import Request

API = "/api/v1"
BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-0123456789"  # noqa: S105 (a throwaway account)
SEED_ITEMS = 25
# Every sort and order the item list offers (app/items/schemas.py SortField, SortOrder).
ORDERS: tuple[Literal["desc"], Literal["asc"]] = ("desc", "asc")
SORTS = [(sort, order) for sort in ("created_at", "title") for order in ORDERS]

APP = "app"
APP_LOG_SAVE = "app-jsonlog-save"
APP_LOG_OFF = "app-logging-off"
BARE_ROUTE = "bare-route"
BARE_ROUTE_DEFAULTS = "bare-route-fastapi-defaults"
BARE_DB = "bare-sqlalchemy"
APP_CACHE = "app-cache"

# The service's environment variables per server role (on top of the run's base environment).
ROLE_TARGETS = {
    APP: "app.main:app",
    APP_LOG_SAVE: "app.main:app",
    APP_LOG_OFF: "app.main:app",
    BARE_ROUTE: "bench.baselines.bare_route:app",
    BARE_ROUTE_DEFAULTS: "bench.baselines.bare_route:default_app",
    BARE_DB: "bench.baselines.bare_db:app",
    APP_CACHE: "app.main:app",
}
ROLE_ENV = {
    APP: {},
    APP_LOG_SAVE: {"JSON_LOG": "true", "SAVE": "true", "ACCESS_LOG": "true", "LEVEL": "INFO"},
    APP_LOG_OFF: {"ACCESS_LOG": "false", "LEVEL": "WARNING"},
    BARE_ROUTE: {},
    BARE_ROUTE_DEFAULTS: {},
    BARE_DB: {},
    # REDIS_URL and a key prefix of the run's own come from bench/run.py
    APP_CACHE: {"CACHE_TTL_SECONDS": "60"},
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
    target: float | None = None  # the largest such ratio we accept (service and PostgreSQL)


@dataclass(frozen=True)
class Fixture:
    """What the seeding left in the database: a token, an item and the id of the bench user,
    and per "sort order" the cursor of a page deep in its items."""

    token: str
    item_id: int
    owner_id: int
    deep_cursors: dict[str, str] = field(default_factory=dict)
    bulk_ids: tuple[int, int] | None = None  # the lowest and highest id of the bulk rows


HEALTH_FULL = "GET /health/live (full stack)"
HEALTH_BARE = "GET /health/live (bare route)"
HEALTH_BARE_DEFAULTS = "GET /health/live (bare route, FastAPI defaults)"
READ_AUTH = "GET item by id (authenticated)"
READ_BARE = "GET item by id (bare SQLAlchemy)"
LIST_AUTH = "GET list of 20 items (authenticated)"
LIST_BARE = "GET list of 20 items (bare SQLAlchemy)"
CREATE_AUTH = "POST item (authenticated)"
CREATE_BARE = "POST item (bare SQLAlchemy)"
# The targets on the requests users make: CPU per request against the bare equivalent.
API_TARGET = 1.3
DEEP_TARGET = 1.1  # a page deep in the list against page 1, in the service and in PostgreSQL
LOG_ON = "GET /health/live (JSON access log + SAVE)"
LOG_OFF = "GET /health/live (logging off)"
READ_LOG_ON = "GET item by id (JSON access log + SAVE)"
READ_LOG_OFF = "GET item by id (logging off)"
CACHE_HIT = "GET item by id (cache hit)"
CACHE_OFF = "GET item by id (cache off)"
CACHE_MISS = "GET random item (cache miss)"
CACHE_MISS_OFF = "GET random item (cache off)"


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
    bare_list = f"/items?limit=20&owner_id={fixture.owner_id}"
    return [
        [
            Scenario(HEALTH_FULL, APP, Request("/health/live"), baseline=HEALTH_BARE),
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
            Scenario(READ_AUTH, APP, read, baseline=READ_BARE, target=API_TARGET),
            Scenario(READ_BARE, BARE_DB, Request(f"/items/{fixture.item_id}")),
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
            Scenario(
                LIST_AUTH,
                APP,
                Request(f"{API}/items?limit=20", token=auth),
                baseline=LIST_BARE,
                target=API_TARGET,
            ),
            Scenario(LIST_BARE, BARE_DB, Request(bare_list)),
        ],
        [
            Scenario(
                CREATE_AUTH,
                APP,
                _post_json(f"{API}/items", create_body, auth),
                baseline=CREATE_BARE,
                target=API_TARGET,
            ),
            Scenario(
                CREATE_BARE,
                BARE_DB,
                _post_json(f"/items?owner_id={fixture.owner_id}", create_body),
            ),
        ],
        *deep_pages(fixture),
        *cache_groups(fixture),
        [
            Scenario(LOG_ON, APP_LOG_SAVE, Request("/health/live"), baseline=LOG_OFF),
            Scenario(LOG_OFF, APP_LOG_OFF, Request("/health/live")),
        ],
        [
            Scenario(READ_LOG_ON, APP_LOG_SAVE, read, baseline=READ_LOG_OFF),
            Scenario(READ_LOG_OFF, APP_LOG_OFF, read),
        ],
    ]


def _post_json(path: str, body: str, token: str = "") -> Request:
    return Request(path, method="POST", body=body, content_type="application/json", token=token)


def page_one_name(sort_order: str) -> str:
    return f"GET page 1 by {sort_order}"


def deep_page_name(sort_order: str) -> str:
    return f"GET page deep by {sort_order}"


def deep_pages(fixture: Fixture) -> list[list[Scenario]]:
    """Per sort and order the list offers: page 1 against a page deep in the bench user's
    items (the seeding's cursor), 20 rows each."""
    found = []
    for sort_order, cursor in fixture.deep_cursors.items():
        sort, order = sort_order.split()
        path = f"{API}/items?limit=20&sort={sort}&order={order}"
        first = page_one_name(sort_order)
        found.append(
            [
                Scenario(first, APP, Request(path, token=fixture.token)),
                Scenario(
                    deep_page_name(sort_order),
                    APP,
                    Request(f"{path}&cursor={quote(cursor)}", token=fixture.token),
                    baseline=first,
                    target=DEEP_TARGET,
                ),
            ]
        )
    return found


def cache_groups(fixture: Fixture) -> list[list[Scenario]]:
    """The cache against none, same run: one item read again and again (every read a hit
    but the first), and random items of the million (nearly every read a miss)."""
    read = Request(f"{API}/items/{fixture.item_id}", token=fixture.token)
    groups = [
        [
            Scenario(CACHE_HIT, APP_CACHE, read, baseline=CACHE_OFF),
            Scenario(CACHE_OFF, APP, read),
        ]
    ]
    if fixture.bulk_ids:
        random_read = Request(f"{API}/items/{{id}}", token=fixture.token, ids=fixture.bulk_ids)
        groups.append(
            [
                Scenario(CACHE_MISS, APP_CACHE, random_read, baseline=CACHE_MISS_OFF),
                Scenario(CACHE_MISS_OFF, APP, random_read),
            ]
        )
    return groups
