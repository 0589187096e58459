"""Put the bench user and its items in the database, through the service's own API."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

from bench.scenarios import API, BENCH_EMAIL, BENCH_PASSWORD, SEED_ITEMS, Fixture

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _post(port: int, path: str, body: bytes, content_type: str, token: str = "") -> Any:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def seed(port: int) -> Fixture:
    """Sign up, log in, create SEED_ITEMS items; the token and the first item's id."""
    account = {"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "full_name": "Bench"}
    _post(port, f"{API}/users", json.dumps(account).encode(), JSON)
    form = urlencode({"username": BENCH_EMAIL, "password": BENCH_PASSWORD}).encode()
    access = _post(port, f"{API}/auth/token", form, FORM)["access_token"]
    ids = []
    for number in range(SEED_ITEMS):
        item = json.dumps({"title": f"seed item {number}", "description": "x" * 200}).encode()
        ids.append(_post(port, f"{API}/items", item, JSON, access)["id"])
    return Fixture(token=access, item_id=ids[0])
