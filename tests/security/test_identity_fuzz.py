"""Whatever a client sends, signed or not, never reaches a 500: arbitrary JSON in pagination
cursors, arbitrary claims in correctly signed tokens, arbitrary refresh tokens and keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
from fastapi import FastAPI
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import service_headers

API = "/api/v1"
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.datetimes().map(lambda moment: moment.isoformat())
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
cursor_contents = json_values | st.fixed_dictionaries(
    {"s": st.sampled_from(["created_at", "title"]), "o": st.sampled_from(["asc", "desc"])},
    optional={"v": json_values, "id": json_values},
)
claim_values = json_values | st.integers(min_value=0, max_value=2**31) | st.just("access")
claim_sets = st.dictionaries(
    st.sampled_from(["sub", "gen", "iat", "exp", "nbf", "type", "aud", "iss"])
    | st.text(max_size=4),
    claim_values,
    max_size=8,
)


def _cursor(content: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


@EXAMPLES
@given(
    content=cursor_contents,
    sort=st.sampled_from(["created_at", "title"]),
    order=st.sampled_from(["asc", "desc"]),
)
async def test_any_json_cursor_is_answered_below_500(
    client: AsyncClient, application: FastAPI, content: Any, sort: str, order: str
) -> None:
    params = {"cursor": _cursor(content), "sort": sort, "order": order}
    response = await client.get(f"{API}/items", params=params, headers=service_headers(application))
    assert response.status_code < 500, (content, response.text)


@EXAMPLES
@given(claims=claim_sets, valid_window=st.booleans())
async def test_any_signed_claims_are_answered_below_500(
    client: AsyncClient, application: FastAPI, claims: dict[str, Any], valid_window: bool
) -> None:
    if valid_window:  # get past PyJWT's own checks, so our reading of the claims is reached
        now = int(time.time())
        claims = {"iat": now, "exp": now + 60, "type": "access", **claims}
    secret = application.state.settings.SECRET_KEY.get_secret_value()
    # Signed as given: PyJWT's `encode` would refuse some claims before they are sent.
    token = jwt.PyJWS().encode(json.dumps(claims).encode(), secret, algorithm="HS256")
    for path in (f"{API}/items", f"{API}/users/me", f"{API}/users/me/api-keys"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code < 500, (claims, response.text)
        assert response.status_code in (401, 403) or not claims, (claims, response.status_code)


@EXAMPLES
@given(secret=st.text(max_size=300))
async def test_any_refresh_token_or_key_is_answered_below_500(
    client: AsyncClient, secret: str
) -> None:
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": secret})
    assert refreshed.status_code in (401, 422), refreshed.text
    if secret.isascii() and secret.isprintable():  # what a header can carry
        keyed = await client.get(f"{API}/items", headers={"X-API-Key": secret})
        assert keyed.status_code < 500, keyed.text
